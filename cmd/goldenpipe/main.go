// Command goldenpipe is the Azure Functions custom handler of the golden-image
// pipeline. The Functions host starts it and passes the port to listen on in
// FUNCTIONS_CUSTOMHANDLER_PORT; every app setting arrives as an environment
// variable.
//
// With a subcommand it is a tool for people and CI:
//
//	goldenpipe validate [flags] FILE|DIR ...   check template files offline
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/goldenpipe/goldenpipe/app"
	"github.com/goldenpipe/goldenpipe/internal/cli"
)

func main() {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "validate":
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			code := cli.Validate(ctx, os.Args[2:], os.LookupEnv, os.Stdout, os.Stderr)
			stop()
			os.Exit(code)
		case "-h", "-help", "--help", "help":
			fmt.Println("usage: goldenpipe                 the Functions custom handler (started by the host)")
			fmt.Println("       goldenpipe validate ...    check template files offline (goldenpipe validate -h)")
			return
		default:
			fmt.Fprintf(os.Stderr, "goldenpipe: unknown command %q (validate; no command runs the handler)\n", os.Args[1])
			os.Exit(2)
		}
	}
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
