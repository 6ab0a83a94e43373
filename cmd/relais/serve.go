package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/relais-ci/relais/shared/api"
	"github.com/relais-ci/relais/shared/approval"
	"github.com/relais-ci/relais/shared/approval/web"
	"github.com/relais-ci/relais/shared/core"
	"github.com/relais-ci/relais/shared/execution"
	"github.com/relais-ci/relais/shared/local/serve"
	"github.com/relais-ci/relais/shared/local/smtpnotify"
	"github.com/relais-ci/relais/shared/webhook"
)

// mapFlag is a repeatable NAME=VALUE flag.
type mapFlag map[string]string

func (m mapFlag) String() string {
	keys := make([]string, 0, len(m))
	for k, v := range m {
		keys = append(keys, k+"="+v)
	}
	sort.Strings(keys)
	return strings.Join(keys, ",")
}

func (m mapFlag) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" || v == "" {
		return fmt.Errorf("%q: want NAME=VALUE", s)
	}
	m[k] = v
	return nil
}

// serverFlags are the flags of the commands that run the local runtime.
type serverFlags struct {
	data      string
	listen    string
	repos     mapFlag
	lambdas   mapFlag
	tokenFile string
	verbose   bool

	publicURL    string
	approvers    string
	smtp         string
	smtpFrom     string
	smtpSecurity string
	smtpUser     string
	smtpPassFile string

	webhookSecretFile string
	githubTokenFile   string
}

// approvalKeyFile is the file in the data dir holding the approval link signing keys.
const approvalKeyFile = "approval-links.key"

func addServerFlags(fs *flag.FlagSet, listen string) *serverFlags {
	f := &serverFlags{repos: mapFlag{}, lambdas: mapFlag{}}
	fs.StringVar(&f.data, "data", ".relais", "data directory: state, artifacts, deployed buckets, build workspaces")
	fs.StringVar(&f.listen, "listen", listen, "address of the HTTP server (API and approval pages)")
	fs.Var(f.repos, "repo", "map a repository to a local git repository: owner/name=PATH (repeatable)")
	fs.Var(f.lambdas, "lambda", "map a Lambda function to a local executable: NAME=PATH (repeatable)")
	fs.StringVar(&f.tokenFile, "api-token-file", "", "file holding the API token clients must send (required when --listen is not a loopback address)")
	fs.BoolVar(&f.verbose, "v", false, "log every state change")
	fs.StringVar(&f.webhookSecretFile, "webhook-secret-file", "", "file of GitHub webhook secrets, one per line (default $RELAIS_WEBHOOK_SECRET); without one, deliveries are refused")
	fs.StringVar(&f.githubTokenFile, "github-token-file", "", "file holding a GitHub token (default $RELAIS_GITHUB_TOKEN): commit statuses, and changed files GitHub left out of a delivery")
	fs.StringVar(&f.publicURL, "public-url", "", "base URL of approval links, as approvers reach this server (default: http:// and the listen address)")
	fs.StringVar(&f.approvers, "approvers", "", "who receives approval requests, each with their own links: comma-separated e-mail addresses (default: the console user)")
	fs.StringVar(&f.smtp, "smtp", "", "SMTP server host:port to mail approval requests through (needs --smtp-from and --approvers)")
	fs.StringVar(&f.smtpFrom, "smtp-from", "", "sender address of the mails")
	fs.StringVar(&f.smtpSecurity, "smtp-tls", string(smtpnotify.Opportunistic), "auto (STARTTLS when offered), starttls (required), tls (SMTPS) or none")
	fs.StringVar(&f.smtpUser, "smtp-user", "", "SMTP user name (AUTH PLAIN; the password from --smtp-password-file or RELAIS_SMTP_PASSWORD)")
	fs.StringVar(&f.smtpPassFile, "smtp-password-file", "", "file holding the SMTP password")
	return f
}

// notifications builds the approval notifier: mail when --smtp is set, and the console.
// A request mailed to one approver is only mentioned on the console: its links are
// theirs. It also returns the approvers (by default the console user, whose links the
// console shows).
func notifications(f *serverFlags, logw io.Writer) (core.Notifier, []string, error) {
	var approvers []string
	for _, a := range strings.Split(f.approvers, ",") {
		if a = strings.TrimSpace(a); a != "" {
			approvers = append(approvers, a)
		}
	}
	var mailer *smtpnotify.Notifier
	if f.smtp != "" {
		if f.smtpFrom == "" || len(approvers) == 0 {
			return nil, nil, errors.New("--smtp needs --smtp-from and --approvers")
		}
		password := os.Getenv("RELAIS_SMTP_PASSWORD")
		if f.smtpPassFile != "" {
			b, err := os.ReadFile(f.smtpPassFile)
			if err != nil {
				return nil, nil, fmt.Errorf("read --smtp-password-file: %w", err)
			}
			password = strings.TrimSpace(string(b))
		}
		var err error
		mailer, err = smtpnotify.New(smtpnotify.Config{Addr: f.smtp, From: f.smtpFrom, To: approvers,
			Security: smtpnotify.Security(f.smtpSecurity), Username: f.smtpUser, Password: password})
		if err != nil {
			return nil, nil, err
		}
	}
	if len(approvers) == 0 {
		// Links printed on the console are the console user's.
		user := os.Getenv("USER")
		if user == "" {
			user = "operator"
		}
		approvers = []string{user}
	}
	return core.NotifierFunc(func(ctx context.Context, n core.Notification) error {
		// A declared NotificationArn names an SNS topic, which nothing here delivers to:
		// the console shows what it would have said.
		if mailer == nil || n.Topic != "" {
			fmt.Fprintf(logw, "\n%s\n%s\n", n.Subject, n.Text)
			return nil
		}
		err := mailer.Notify(ctx, n)
		switch to := n.Attrs[approval.AttrRecipient]; {
		case err != nil:
			fmt.Fprintf(logw, "\n%s: could not mail it: %v\n%s\n", n.Subject, err, n.Text)
		case to != "":
			fmt.Fprintf(logw, "\n%s: mailed to %s\n", n.Subject, to)
		default:
			fmt.Fprintf(logw, "\n%s\n%s\n", n.Subject, n.Text)
		}
		return err
	}), approvers, nil
}

// server is a running local runtime with its HTTP server.
type server struct {
	rt    *serve.Runtime
	http  *http.Server
	ln    net.Listener
	done  chan error
	hooks *webhook.Service
	// stopReporting ends the commit status reporter.
	stopReporting context.CancelFunc
}

// URL is the base URL of the server.
func (s *server) URL() string { return "http://" + s.ln.Addr().String() }

// startServer opens the runtime, installs the declarations and starts serving.
func startServer(ctx context.Context, f *serverFlags, files []string, logw io.Writer) (*server, error) {
	level := slog.LevelWarn
	if f.verbose {
		level = slog.LevelInfo
	}
	logger := slog.New(slog.NewTextHandler(logw, &slog.HandlerOptions{Level: level}))
	token, err := apiToken(f)
	if err != nil {
		return nil, err
	}
	repos := map[string]string{}
	for name, path := range f.repos {
		abs, err := filepath.Abs(path)
		if err != nil {
			return nil, fmt.Errorf("--repo %s: %w", name, err)
		}
		repos[name] = abs
	}
	notifier, approvers, err := notifications(f, logw)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", f.listen)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", f.listen, err)
	}
	if token == "" && !loopback(ln.Addr()) {
		ln.Close()
		return nil, fmt.Errorf("--listen %s is not a loopback address: give --api-token-file so that only holders of the token can drive pipelines", f.listen)
	}
	public := f.publicURL
	if public == "" {
		public = "http://" + ln.Addr().String()
	}
	if err := os.MkdirAll(f.data, 0o755); err != nil {
		ln.Close()
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	keys, err := approval.KeyFile(filepath.Join(f.data, approvalKeyFile))
	if err != nil {
		ln.Close()
		return nil, err
	}
	links, err := approval.NewLinks(public, keys...)
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("--public-url: %w", err)
	}
	rt, err := serve.Open(ctx, serve.Config{
		DataDir:       f.data,
		Sources:       serve.Sources{Repos: repos, Lambdas: f.lambdas},
		Notifier:      notifier,
		ApprovalLinks: links,
		Approvers:     approvers,
		Logger:        logger,
	})
	if err != nil {
		ln.Close()
		return nil, err
	}
	var problems []string
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		if _, err := rt.Executions.Install(ctx, data); err != nil {
			var inv *execution.InvalidError
			if errors.As(err, &inv) {
				for _, v := range inv.Violations {
					problems = append(problems, fmt.Sprintf("%s: %s", file, v))
				}
				continue
			}
			problems = append(problems, fmt.Sprintf("%s: %v", file, err))
		}
	}
	if len(problems) > 0 {
		ln.Close()
		rt.Close()
		return nil, fmt.Errorf("cannot run these pipelines here:\n  %s", strings.Join(problems, "\n  "))
	}
	mux := http.NewServeMux()
	// Approval pages: GET shows, POST decides; the signed link is their credential, not
	// the API token.
	mux.Handle("/approvals/", web.New(web.Deps{Service: rt.Approvals, Logger: logger}))
	hooks, stopReporting, err := githubWebhooks(f, rt, public, logger)
	if err != nil {
		ln.Close()
		rt.Close()
		return nil, err
	}
	mux.Handle("POST "+webhook.Path, webhook.HTTPHandler(hooks))
	mux.Handle("POST /{$}", api.New(api.Deps{
		Service: rt.Executions, Approval: rt.Approvals,
		Pipelines: rt.Store, Executions: rt.Store, Stages: rt.Store, Actions: rt.Store,
		Transitions: rt.Store, Approvals: rt.Store, Queue: rt.Store, Logger: logger,
	}, api.WithToken(token)))
	s := &server{rt: rt, ln: ln, done: make(chan error, 1), hooks: hooks, stopReporting: stopReporting, http: &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}}
	go func() { s.done <- s.http.Serve(ln) }()
	return s, nil
}

// stop shuts the HTTP server down, then the runtime: executions in progress stay
// recorded and resume at the next start.
func (s *server) stop() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := s.http.Shutdown(ctx)
	s.stopReporting()
	return errors.Join(err, s.rt.Close())
}

// githubWebhooks builds the intake of GitHub deliveries and, with a GitHub token, the
// reporter of commit statuses (stopped by the returned function).
func githubWebhooks(f *serverFlags, rt *serve.Runtime, public string, logger *slog.Logger) (*webhook.Service, context.CancelFunc, error) {
	secrets, err := webhook.LoadSecrets(f.webhookSecretFile)
	if err != nil {
		return nil, nil, err
	}
	token, err := webhook.LoadToken(f.githubTokenFile)
	if err != nil {
		return nil, nil, err
	}
	deps := webhook.Deps{
		Pipelines: rt.Store, Executions: rt.Store, Deliveries: rt.Store, Starter: rt.Executions,
		Secrets: secrets, PipelinesTTL: time.Second, Logger: logger,
	}
	ctx, stop := context.WithCancel(context.Background())
	if token != "" {
		gh := webhook.NewGitHub("", token, nil)
		deps.Files = gh
		rep := webhook.NewReporter(webhook.ReporterDeps{GitHub: gh, Executions: rt.Store, BaseURL: public, Logger: logger})
		deps.OnStart = rep.Track
		go rep.Run(ctx, 2*time.Second)
	}
	return webhook.New(deps), stop, nil
}

func apiToken(f *serverFlags) (string, error) {
	if f.tokenFile == "" {
		return "", nil
	}
	b, err := os.ReadFile(f.tokenFile)
	if err != nil {
		return "", fmt.Errorf("read --api-token-file: %w", err)
	}
	token := strings.TrimSpace(string(b))
	if token == "" {
		return "", fmt.Errorf("--api-token-file %s is empty", f.tokenFile)
	}
	return token, nil
}

func loopback(a net.Addr) bool {
	tcp, ok := a.(*net.TCPAddr)
	return ok && tcp.IP.IsLoopback()
}

// runServe runs the local runtime until interrupted.
func runServe(ctx context.Context, args []string, s stdio) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(s.err)
	f := addServerFlags(fs, "127.0.0.1:8080")
	dir := fs.String("pipelines", "pipelines", "folder of pipeline declarations (*.json) to install")
	fs.Usage = func() {
		fmt.Fprintln(s.err, "usage: relais serve [flags]\n\nRuns Relais on this machine: installs the pipelines, serves the API (CodePipeline's protocol),\nand resumes every execution a previous run left in progress.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() != 0 {
		fs.Usage()
		return 2
	}
	files, err := filepath.Glob(filepath.Join(*dir, "*.json"))
	if err != nil || len(files) == 0 {
		fmt.Fprintf(s.err, "relais serve: no pipeline declarations (*.json) in %s\n", *dir)
		return 2
	}
	srv, err := startServer(ctx, f, files, s.err)
	if err != nil {
		fmt.Fprintf(s.err, "relais serve: %v\n", err)
		return 1
	}
	fmt.Fprintf(s.out, "relais serving %d pipeline(s) on %s (data in %s)\n", len(files), srv.URL(), f.data)
	if err := srv.hooks.Ready(); err != nil {
		fmt.Fprintf(s.err, "relais serve: GitHub deliveries to %s are refused with 401: %v\n", webhook.Path, err)
	}
	select {
	case <-ctx.Done():
	case err := <-srv.done:
		fmt.Fprintf(s.err, "relais serve: %v\n", err)
		srv.stop()
		return 1
	}
	fmt.Fprintln(s.out, "relais: shutting down; executions in progress resume at the next start")
	if err := srv.stop(); err != nil {
		fmt.Fprintf(s.err, "relais serve: shut down: %v\n", err)
		return 1
	}
	return 0
}
