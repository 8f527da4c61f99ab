// Command ftp2s3 is an FTP server whose file system is S3-compatible object
// storage. Configuration comes from FTP2S3_* environment variables and the AWS
// SDK's own chain; see docs/configuration.md.
package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/ftp2s3/ftp2s3/gateway"
	"github.com/ftp2s3/ftp2s3/gateway/auth"
	"github.com/ftp2s3/ftp2s3/gateway/ops"
)

func main() {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "hash-password":
			os.Exit(hashPassword(os.Args[2:]))
		case "healthcheck":
			os.Exit(healthcheck())
		case "-h", "--help", "help":
			fmt.Println("usage: ftp2s3                 run the gateway (configured by FTP2S3_* variables)")
			fmt.Println("       ftp2s3 hash-password   read a password on stdin (or as an argument), print its bcrypt hash")
			fmt.Println("       ftp2s3 healthcheck     exit 0 if the gateway in this environment answers (container HEALTHCHECK)")
			return
		default:
			fmt.Fprintf(os.Stderr, "ftp2s3: unknown argument %q (try --help)\n", os.Args[1])
			os.Exit(2)
		}
	}
	if os.Getenv("GOGC") == "" {
		// Part buffers are long-lived and make up most of the live heap during
		// transfers, so the default GOGC of 100 lets garbage grow to as much again
		// before a collection: a 10 GiB upload peaked at 141 MiB instead of 104 MiB
		// with 10. The heap the collector has to scan stays small (the buffers hold
		// no pointers), so collecting more often costs little. GOGC still wins.
		debug.SetGCPercent(10)
	}
	cfg, problems := gateway.LoadConfig()
	// A misspelled FTP2S3_* name would otherwise leave its setting at the
	// default without a word (docs/configuration.md "Configuration").
	unknown := gateway.UnknownVariables(os.Environ())
	if len(problems) > 0 || (cfg.StrictEnv && len(unknown) > 0) {
		for _, p := range problems {
			fmt.Fprintf(os.Stderr, "ftp2s3: configuration: %v\n", p)
		}
		for _, u := range unknown {
			fmt.Fprintf(os.Stderr, "ftp2s3: configuration: %v\n", u)
		}
		os.Exit(2)
	}
	log := cfg.NewLogger()
	for _, u := range unknown {
		log.Warn("unknown variable ignored; set FTP2S3_STRICT_ENV=true to refuse to start",
			"variable", u.Name, "did_you_mean", u.Closest)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	// The first signal starts the graceful shutdown; a second one, with the
	// default disposition back, ends the process at once.
	go func() {
		<-ctx.Done()
		stop()
	}()
	g, err := gateway.New(ctx, cfg, log)
	if err != nil {
		fmt.Fprintf(os.Stderr, "ftp2s3: %v\n", err)
		os.Exit(2)
	}
	if g.Certs != nil || cfg.UsersFile != "" {
		reloadOnSIGHUP(ctx, func() {
			if g.Certs != nil {
				_ = g.ReloadTLS()
			}
			_ = g.ReloadUsers()
		})
	}
	if err := g.Run(ctx); err != nil {
		fmt.Fprintf(os.Stderr, "ftp2s3: %v\n", err)
		os.Exit(1)
	}
}

// reloadOnSIGHUP reloads the TLS certificate and FTP2S3_USERS_FILE whenever
// the process gets SIGHUP, until ctx ends (docs/ftps.md "FTPS (RFC 4217)",
// docs/identity.md); each reload logs its outcome, running sessions keep their
// certificate, and a users file with errors keeps the users in force. Without
// either to reload, SIGHUP keeps its default disposition.
func reloadOnSIGHUP(ctx context.Context, reload func()) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGHUP)
	go func() {
		defer signal.Stop(ch)
		for {
			select {
			case <-ctx.Done():
				return
			case <-ch:
				reload()
			}
		}
	}()
}

func hashPassword(args []string) int {
	var pw string
	if len(args) > 0 {
		pw = args[0]
	} else {
		line, err := bufio.NewReader(os.Stdin).ReadString('\n')
		if err != nil && line == "" {
			fmt.Fprintln(os.Stderr, "ftp2s3 hash-password: give the password as an argument or on stdin")
			return 2
		}
		pw = strings.TrimRight(line, "\r\n")
	}
	h, err := auth.HashPassword(pw)
	if err != nil {
		fmt.Fprintf(os.Stderr, "ftp2s3 hash-password: %v\n", err)
		return 1
	}
	fmt.Println(h)
	return 0
}

// healthcheck asks the gateway configured by this environment whether it is
// alive: GET /healthz on FTP2S3_METRICS_LISTEN when set, else a 220 greeting on
// FTP2S3_LISTEN. It exists because minimal images have no shell, curl or nc
// for a HEALTHCHECK.
func healthcheck() int {
	if err := ops.Healthcheck(os.Getenv("FTP2S3_METRICS_LISTEN"), envOr("FTP2S3_LISTEN", ":2121"), 5*time.Second); err != nil {
		fmt.Fprintf(os.Stderr, "ftp2s3 healthcheck: %v\n", err)
		return 1
	}
	return 0
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
