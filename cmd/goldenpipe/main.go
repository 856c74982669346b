// Command goldenpipe is the Azure Functions custom handler of the golden-image
// pipeline. The Functions host starts it and passes the port to listen on in
// FUNCTIONS_CUSTOMHANDLER_PORT; every app setting arrives as an environment
// variable.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/goldenpipe/goldenpipe/app"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "goldenpipe:", err)
		os.Exit(1)
	}
}

func run() error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return app.Run(ctx, app.Options{Lookup: os.LookupEnv, Stdout: os.Stdout})
}
