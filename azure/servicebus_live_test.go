package azure

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"

	"github.com/goldenpipe/goldenpipe"
	"github.com/goldenpipe/goldenpipe/config"
)

// TestServiceBusLive sends a build request to a real namespace and reads it
// back. It needs SERVICEBUS_CONNECTION_STRING (and the queue named by
// SERVICEBUS_QUEUE, default build-requests); there is no emulator here.
func TestServiceBusLive(t *testing.T) {
	cs := os.Getenv("SERVICEBUS_CONNECTION_STRING")
	if cs == "" {
		t.Skip("SERVICEBUS_CONNECTION_STRING is not set: this test needs a real Service Bus namespace (no emulator runs here); the in-process bus is tested instead")
	}
	queue := os.Getenv("SERVICEBUS_QUEUE")
	if queue == "" {
		queue = "build-requests"
	}
	s, err := config.Load(config.MapLookup(map[string]string{"Scripts": "UseDevelopmentStorage=true", "State": "UseDevelopmentStorage=true",
		"ServiceBus": cs, "AIB_SIMULATOR": "true"}))
	if err != nil {
		t.Fatal(err)
	}
	bus, err := NewServiceBus(s.ServiceBus)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	defer bus.Close(ctx)
	id := fmt.Sprintf("goldenpipe-live-%d", time.Now().UnixNano())
	body := []byte(`{"template":"live-test","reason":"live test","force":false,"requestedBy":"go test"}`)
	if err := bus.Send(ctx, queue, goldenpipe.OutMessage{ID: id, Body: body, ContentType: "application/json"}); err != nil {
		t.Fatal(err)
	}
	client, err := azservicebus.NewClientFromConnectionString(cs, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close(ctx)
	rcv, err := client.NewReceiverForQueue(queue, nil)
	if err != nil {
		t.Fatal(err)
	}
	for ctx.Err() == nil {
		msgs, err := rcv.ReceiveMessages(ctx, 10, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			_ = rcv.CompleteMessage(ctx, m, nil)
			if m.MessageID == id {
				if string(m.Body) != string(body) {
					t.Fatalf("body = %s", m.Body)
				}
				return
			}
		}
	}
	t.Fatal("the message sent was not received within a minute")
}
