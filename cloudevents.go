package goldenpipe

import "time"

// Event is a CloudEvents 1.0 event in the JSON format, with its data of
// type T.
type Event[T any] struct {
	SpecVersion     string    `json:"specversion"`
	ID              string    `json:"id"`
	Source          string    `json:"source"`
	Type            string    `json:"type"`
	Subject         string    `json:"subject"`
	Time            time.Time `json:"time"`
	DataContentType string    `json:"datacontenttype"`
	Data            T         `json:"data"`
}

// NewEvent returns a CloudEvents 1.0 event with JSON data.
func NewEvent[T any](id, source, typ, subject string, at time.Time, data T) Event[T] {
	return Event[T]{SpecVersion: "1.0", ID: id, Source: source, Type: typ, Subject: subject, Time: at,
		DataContentType: "application/json", Data: data}
}
