package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/codepipeline"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/relais-ci/relais/shared/api"
)

// The API commands are clients of Relais's API, which speaks CodePipeline's protocol:
// they use the official CodePipeline client with Relais's endpoint.

const (
	defaultEndpoint = "http://127.0.0.1:8080"
	// clientRegion is the region the client signs for; Relais ignores it, but the
	// client needs one.
	clientRegion = "local"
)

// clientFlags are the flags every API command takes.
type clientFlags struct {
	endpoint  string
	tokenFile string
	by        string
}

func addClientFlags(fs *flag.FlagSet) *clientFlags {
	c := &clientFlags{}
	fs.StringVar(&c.endpoint, "endpoint", "", "Relais API endpoint (default $RELAIS_ENDPOINT, else "+defaultEndpoint+")")
	fs.StringVar(&c.tokenFile, "api-token-file", "", "file holding the API token (default: the token in $RELAIS_API_TOKEN)")
	fs.StringVar(&c.by, "by", os.Getenv("USER"), "who you are, recorded by approvals, stops and transitions")
	return c
}

// client returns a CodePipeline client for Relais's API.
func (c *clientFlags) client() (*codepipeline.Client, error) {
	endpoint := c.endpoint
	if endpoint == "" {
		endpoint = os.Getenv("RELAIS_ENDPOINT")
	}
	if endpoint == "" {
		endpoint = defaultEndpoint
	}
	if !strings.HasPrefix(endpoint, "http://") && !strings.HasPrefix(endpoint, "https://") {
		return nil, fmt.Errorf("endpoint %q: want an http:// or https:// URL", endpoint)
	}
	token := os.Getenv("RELAIS_API_TOKEN")
	if c.tokenFile != "" {
		data, err := os.ReadFile(c.tokenFile)
		if err != nil {
			return nil, fmt.Errorf("read API token: %w", err)
		}
		token = strings.TrimSpace(string(data))
		if token == "" {
			return nil, fmt.Errorf("read API token: %s is empty", c.tokenFile)
		}
	}
	var apiOptions []func(*middleware.Stack) error
	if token != "" {
		apiOptions = append(apiOptions, withHeader(api.TokenHeader, token))
	}
	if c.by != "" {
		apiOptions = append(apiOptions, withHeader(api.UserHeader, c.by))
	}
	return codepipeline.New(codepipeline.Options{
		BaseEndpoint: aws.String(endpoint),
		Region:       clientRegion,
		// Relais authenticates with its own token, not with AWS signatures.
		Credentials:      aws.AnonymousCredentials{},
		APIOptions:       apiOptions,
		RetryMaxAttempts: 2,
	}), nil
}

// withHeader sets a header on every request.
func withHeader(name, value string) func(*middleware.Stack) error {
	return func(s *middleware.Stack) error {
		return s.Build.Add(middleware.BuildMiddlewareFunc("RelaisHeader"+name,
			func(ctx context.Context, in middleware.BuildInput, next middleware.BuildHandler) (middleware.BuildOutput, middleware.Metadata, error) {
				if req, ok := in.Request.(*smithyhttp.Request); ok {
					req.Header.Set(name, value)
				}
				return next.HandleBuild(ctx, in)
			}), middleware.After)
	}
}

// apiFailed reports a failed call and returns the exit code: 1 when Relais answered
// with an error about the request (no such pipeline, not stoppable…), 2 when it could
// not be reached or refused the caller.
func apiFailed(s stdio, cmd string, err error) int {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		fmt.Fprintf(s.err, "relais %s: %s: %s\n", cmd, ae.ErrorCode(), ae.ErrorMessage())
		switch ae.ErrorCode() {
		case "AccessDeniedException", "UnknownOperationException", "InternalFailure":
			return 2
		}
		return 1
	}
	fmt.Fprintf(s.err, "relais %s: %v\n", cmd, err)
	return 2
}

// parseFlags parses flags wherever they are among the positional arguments
// (`relais start demo --watch`) and returns the positional ones; "--" ends the flags.
func parseFlags(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// newFlagSet returns a flag set that reports to s.err, with a usage line.
func newFlagSet(s stdio, name, usage string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(s.err)
	fs.Usage = func() {
		fmt.Fprintf(s.err, "usage: relais %s\n", usage)
		fs.PrintDefaults()
	}
	return fs
}

// parseCommand parses args for a command that takes min to max positional arguments.
// It returns them, or the exit code to return at once (ok false).
func parseCommand(fs *flag.FlagSet, args []string, min, max int) (pos []string, code int, ok bool) {
	pos, err := parseFlags(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, 0, false
		}
		return nil, 2, false
	}
	if len(pos) < min || len(pos) > max {
		fs.Usage()
		return nil, 2, false
	}
	return pos, 0, true
}

// awsJSON writes an SDK output as the AWS CLI prints it: lowerCamelCase members (the
// API's own names), no response metadata.
func awsJSON(v any) ([]byte, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var tree any
	if err := json.Unmarshal(data, &tree); err != nil {
		return nil, err
	}
	return json.MarshalIndent(lowerKeys(tree), "", "  ")
}

func lowerKeys(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, val := range x {
			if k == "ResultMetadata" || val == nil {
				continue
			}
			r, size := utf8.DecodeRuneInString(k)
			out[string(unicode.ToLower(r))+k[size:]] = lowerKeys(val)
		}
		return out
	case []any:
		for i := range x {
			x[i] = lowerKeys(x[i])
		}
	}
	return v
}

// table writes aligned columns (tab-separated cells) to w on Flush, without trailing
// spaces.
type table struct {
	w    io.Writer
	buf  bytes.Buffer
	tw   *tabwriter.Writer
	cols int
}

func newTable(w io.Writer) *table {
	t := &table{w: w}
	t.tw = tabwriter.NewWriter(&t.buf, 0, 4, 2, ' ', 0)
	return t
}

// Row writes one row of cells. Every row has as many cells as the first (the header):
// tabwriter aligns a column only over consecutive rows that all have it.
func (t *table) Row(cells ...string) {
	if t.cols == 0 {
		t.cols = len(cells)
	}
	for len(cells) < t.cols {
		cells = append(cells, "")
	}
	fmt.Fprintln(t.tw, strings.Join(cells, "\t"))
}

// Flush writes the table.
func (t *table) Flush() error {
	if err := t.tw.Flush(); err != nil {
		return err
	}
	for line := range strings.Lines(t.buf.String()) {
		if _, err := fmt.Fprintln(t.w, strings.TrimRight(line, " \n")); err != nil {
			return err
		}
	}
	return nil
}

// formatTime formats a time for tables: local time, to the second.
func formatTime(t *time.Time) string {
	if t == nil || t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04:05")
}

// formatDuration rounds a duration for people.
func formatDuration(d time.Duration) string {
	switch {
	case d < 0:
		return "-"
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Hour:
		return d.Round(time.Second).String()
	}
	return d.Round(time.Minute).String()
}
