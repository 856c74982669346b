package goldenpipe

import "time"

// Rejection is a build request message that was refused, kept for
// operators: the start of its body (whatever the sender put in it), with
// the body's size and sha256.
type Rejection struct {
	MessageID     string    `json:"messageId"`
	DeliveryCount int       `json:"deliveryCount"`
	Reason        string    `json:"reason"`
	Body          string    `json:"body"`
	BodyBytes     int       `json:"bodyBytes"`
	BodySHA256    string    `json:"bodySha256"`
	Truncated     bool      `json:"truncated,omitempty"`
	At            time.Time `json:"at"`
}
