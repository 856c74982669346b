package arm

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

func TestZZReal(t *testing.T) {
	tpl, err := os.ReadFile(os.Getenv("REAL"))
	if err != nil {
		t.Skip(err)
	}
	var par []byte
	if p := os.Getenv("REALP"); p != "" {
		par, _ = os.ReadFile(p)
	}
	s := testScope
	d, err := Evaluate(tpl, par, s)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range d.Resources {
		fmt.Println(r.Path, "|", r.Type, "|", r.Name, "|", r.Scope)
		for _, p := range r.Problems {
			fmt.Println("   P", p.String()[:min(len(p.String()), 400)])
		}
		if strings.Contains(r.Type, "imageTemplates") {
			fmt.Println("   BODY", string(r.Body)[:min(len(r.Body), 3000)])
		}
	}
	for _, p := range d.Problems {
		fmt.Println("PROBLEM", p.String()[:min(len(p.String()), 400)])
	}
	for _, p := range d.Warnings {
		fmt.Println("WARN", p.String()[:min(len(p.String()), 300)])
	}
	fmt.Println("OUT", d.Outputs)
}
