// Command goldenpipe is the Azure Functions custom handler of the golden-image
// pipeline. The Functions host starts it and passes the port to listen on in
// FUNCTIONS_CUSTOMHANDLER_PORT; every app setting arrives as an environment
// variable.
//
// With a subcommand it is a tool for people and CI:
//
//	goldenpipe validate [flags] FILE|DIR ...   check template files offline
//	goldenpipe render [flags] FILE             print the Image Builder bodies and outputs a file becomes
//	goldenpipe upload [flags] FILE|DIR ...     upload scripts or templates to the app's storage
//	goldenpipe build [flags] TEMPLATE          ask the app for a build
//	goldenpipe status                          the templates and newest builds
//	goldenpipe logs BUILD                      a build's history, Azure's message and log tails
//	goldenpipe rollback TEMPLATE [VERSION]     make a gallery image's latest a known-good version
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
		commands := map[string]func(ctx context.Context, args []string) int{
			"validate": func(ctx context.Context, args []string) int {
				return cli.Validate(ctx, args, os.LookupEnv, os.Stdout, os.Stderr)
			},
			"render": func(ctx context.Context, args []string) int {
				return cli.Render(ctx, args, os.LookupEnv, os.Stdout, os.Stderr)
			},
			"upload": func(ctx context.Context, args []string) int {
				return cli.Upload(ctx, args, os.LookupEnv, os.Stdout, os.Stderr)
			},
			"build": func(ctx context.Context, args []string) int {
				return cli.Build(ctx, args, os.LookupEnv, os.Stdout, os.Stderr, nil)
			},
			"status": func(ctx context.Context, args []string) int {
				return cli.Status(ctx, args, os.LookupEnv, os.Stdout, os.Stderr, nil)
			},
			"logs": func(ctx context.Context, args []string) int {
				return cli.Logs(ctx, args, os.LookupEnv, os.Stdout, os.Stderr, nil)
			},
			"rollback": func(ctx context.Context, args []string) int {
				return cli.Rollback(ctx, args, os.LookupEnv, os.Stdout, os.Stderr, nil)
			},
		}
		switch cmd, ok := commands[os.Args[1]]; {
		case ok:
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			code := cmd(ctx, os.Args[2:])
			stop()
			os.Exit(code)
		case os.Args[1] == "-h" || os.Args[1] == "-help" || os.Args[1] == "--help" || os.Args[1] == "help":
			fmt.Print(usage)
			return
		default:
			fmt.Fprintf(os.Stderr, "goldenpipe: unknown command %q\n%s", os.Args[1], usage)
			os.Exit(2)
		}
	}
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "goldenpipe:", err)
		os.Exit(1)
	}
}

const usage = `usage: goldenpipe                          the Functions custom handler (started by the host)
       goldenpipe validate FILE|DIR ...     check template files offline
       goldenpipe render FILE               the Image Builder bodies and outputs a file becomes
       goldenpipe upload FILE|DIR ...       upload scripts or templates to the app's storage
       goldenpipe build TEMPLATE            ask the app for a build
       goldenpipe status                    the templates and the newest builds
       goldenpipe logs BUILD                a build's history, Azure's message and log tails
       goldenpipe rollback TEMPLATE [VER]   make a gallery image's latest a known-good version
Each command takes -h. build, status, logs and rollback call $GOLDENPIPE_URL
(default http://127.0.0.1:7071) with the function key in $GOLDENPIPE_KEY.
Exit codes: 0 done, 1 refused by the app, 2 usage or connection error.
`

func run() error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return app.Run(ctx, app.Options{Lookup: os.LookupEnv, Stdout: os.Stdout})
}
