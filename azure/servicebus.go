package azure

import (
	"context"
	"fmt"
	"sync"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"

	"github.com/goldenpipe/goldenpipe"
	"github.com/goldenpipe/goldenpipe/config"
)

// ServiceBus sends messages to queues and topics of one namespace.
type ServiceBus struct {
	client  *azservicebus.Client
	mu      sync.Mutex
	senders map[string]*azservicebus.Sender
}

// NewServiceBus connects with a connection string or an identity.
func NewServiceBus(c config.ServiceBusConnection) (*ServiceBus, error) {
	var (
		client *azservicebus.Client
		err    error
	)
	if c.ConnectionString != "" {
		client, err = azservicebus.NewClientFromConnectionString(c.ConnectionString, nil)
		if err != nil {
			return nil, fmt.Errorf("connection %s: the connection string was refused by the Service Bus SDK", c.Name)
		}
	} else {
		cred, cerr := Credential(c.Credential)
		if cerr != nil {
			return nil, fmt.Errorf("connection %s: %w", c.Name, cerr)
		}
		if client, err = azservicebus.NewClient(c.Namespace, cred, nil); err != nil {
			return nil, fmt.Errorf("connection %s: %w", c.Name, err)
		}
	}
	return &ServiceBus{client: client, senders: map[string]*azservicebus.Sender{}}, nil
}

func (s *ServiceBus) sender(entity string) (*azservicebus.Sender, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if snd, ok := s.senders[entity]; ok {
		return snd, nil
	}
	snd, err := s.client.NewSender(entity, nil)
	if err != nil {
		return nil, err
	}
	s.senders[entity] = snd
	return snd, nil
}

// Probe peeks at a queue (nothing is received or locked): the namespace
// answers and the app may read the queue.
func (s *ServiceBus) Probe(ctx context.Context, queue string) error {
	r, err := s.client.NewReceiverForQueue(queue, nil)
	if err != nil {
		return fmt.Errorf("opening queue %s: %w", queue, err)
	}
	defer r.Close(context.WithoutCancel(ctx))
	if _, err := r.PeekMessages(ctx, 1, nil); err != nil {
		return fmt.Errorf("peeking at queue %s: %w", queue, err)
	}
	return nil
}

// Send sends a message to a queue.
func (s *ServiceBus) Send(ctx context.Context, queue string, m goldenpipe.OutMessage) error {
	return s.send(ctx, queue, m)
}

// Publish sends a message to a topic.
func (s *ServiceBus) Publish(ctx context.Context, topic string, m goldenpipe.OutMessage) error {
	return s.send(ctx, topic, m)
}

func (s *ServiceBus) send(ctx context.Context, entity string, m goldenpipe.OutMessage) error {
	snd, err := s.sender(entity)
	if err != nil {
		return goldenpipe.Wrap(goldenpipe.EUNAVAILABLE, err, "opening a sender for %s failed", entity)
	}
	ctx, cancel := context.WithTimeout(ctx, armCallTimeout)
	defer cancel()
	msg := &azservicebus.Message{Body: m.Body}
	if m.ID != "" {
		msg.MessageID = &m.ID
	}
	if m.ContentType != "" {
		msg.ContentType = &m.ContentType
	}
	if m.CorrelationID != "" {
		msg.CorrelationID = &m.CorrelationID
	}
	if m.Subject != "" {
		msg.Subject = &m.Subject
	}
	if err := snd.SendMessage(ctx, msg, nil); err != nil {
		return goldenpipe.Wrap(goldenpipe.EUNAVAILABLE, err, "sending message %s to %s failed", m.ID, entity)
	}
	return nil
}

// Close closes the senders and the connection.
func (s *ServiceBus) Close(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, snd := range s.senders {
		_ = snd.Close(ctx)
	}
	return s.client.Close(ctx)
}
