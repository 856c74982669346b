package arm

import "testing"

// Values Azure Resource Manager returns for uniqueString() and guid(), as
// published with public reimplementations checked against Bicep's output.
func TestUniqueStringMatchesAzure(t *testing.T) {
	tests := []struct {
		in   []string
		want string
	}{
		{[]string{"test"}, "rbgf3xv4ufgzg"},
		{[]string{"hello", "world"}, "a7wkljktk6wne"},
		{[]string{"abc"}, "cgtzqvhu4i23s"},
		{[]string{"/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/my-rg"}, "bmg7c6xu4tw46"},
		{[]string{"foo", "bar", "baz"}, "xzi4ioaxtmth4"},
	}
	for _, tt := range tests {
		if got := uniqueString(tt.in...); got != tt.want {
			t.Errorf("uniqueString(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestGUIDIsVersion5InARMNamespace(t *testing.T) {
	// guid('a','b','c') is uuid5(11fb06fb-712d-4ddd-98c7-e71bbd588830, "a-b-c").
	if got := armGUID("a", "b", "c"); got != "a98fa280-e03f-5afa-8d8e-92d0a9c201e8" {
		t.Fatalf("guid = %s", got)
	}
	if armGUID("a") == armGUID("b") {
		t.Fatal("guid does not depend on its input")
	}
}
