package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/relais-ci/relais/shared/asl"
	"github.com/relais-ci/relais/shared/asl/sfnapi"
	"github.com/relais-ci/relais/shared/local/aslstore"
)

const statesUsage = `usage:
  relais states validate FILE
  relais states run FILE [--input FILE] [--task-handler STATE=COMMAND]... [--task-results FILE] [--history]
  relais states serve [--listen ADDR] [--data FILE]

validate  checks an Amazon States Language definition; exit 1 lists its problems.
run       runs one execution here and prints its output (or {"error", "cause"}) as JSON:
          exit 0 when it succeeds, 1 when it fails, 2 on a bad definition or usage.
          A Task state is answered by --task-handler STATE=COMMAND (sh -c COMMAND gets the
          task's input on stdin and prints its result on stdout; a non-zero exit with
          {"error": …, "cause": …} on stdout fails the task) or by --task-results FILE
          ({"STATE": {"result": …} | {"error": …, "cause": …}}, or a list of those consumed
          one per call). --history prints the execution's events on stderr, one per line.
serve     serves the Step Functions API (AWS JSON 1.0) for local state machines, kept in
          memory or, with --data, in a SQLite file (running executions resume on restart);
          Lambda tasks are sent to $AWS_ENDPOINT_URL_LAMBDA when it is set.
`

// runStates is `relais states`: validate, run and serve state machines.
func runStates(ctx context.Context, args []string, s stdio) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(s.err, statesUsage)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	switch args[0] {
	case "validate":
		return statesValidate(args[1:], s)
	case "run":
		return statesRun(ctx, args[1:], s)
	case "serve":
		return statesServe(ctx, args[1:], s, os.Getenv)
	}
	fmt.Fprintf(s.err, "relais states: unknown subcommand %q\n\n%s", args[0], statesUsage)
	return 2
}

// statesFlags parses flags that may come before or after the positional arguments. It
// returns the positional arguments, or the exit code to return (ok false).
func statesFlags(fs *flag.FlagSet, args []string, npos int, s stdio) (pos []string, code int, ok bool) {
	fs.SetOutput(s.err)
	fs.Usage = func() { fmt.Fprint(s.err, statesUsage) }
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, 0, false
			}
			return nil, 2, false
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(pos) != npos {
		fmt.Fprintf(s.err, "relais states %s: want %d argument(s), got %d\n\n%s", fs.Name(), npos, len(pos), statesUsage)
		return nil, 2, false
	}
	return pos, 0, true
}

func statesReadDefinition(name string, s stdio) (*asl.Machine, []byte, int) {
	data, err := os.ReadFile(name)
	if err != nil {
		fmt.Fprintf(s.err, "relais states: %v\n", err)
		return nil, nil, 2
	}
	m, err := asl.Parse(data)
	if err != nil {
		statesPrintProblems(s.err, name, err)
		return nil, nil, 1
	}
	return m, data, 0
}

func statesPrintProblems(w io.Writer, name string, err error) {
	var verr *asl.ValidationError
	if !errors.As(err, &verr) {
		fmt.Fprintf(w, "%s: %v\n", name, err)
		return
	}
	for _, p := range verr.Problems {
		fmt.Fprintf(w, "%s: %s\n", name, p)
	}
}

func statesValidate(args []string, s stdio) int {
	fs := flag.NewFlagSet("validate", flag.ContinueOnError)
	pos, code, ok := statesFlags(fs, args, 1, s)
	if !ok {
		return code
	}
	m, _, code := statesReadDefinition(pos[0], s)
	if m == nil {
		return code
	}
	fmt.Fprintf(s.out, "%s: valid (%d states)\n", pos[0], len(m.States))
	return 0
}

// statesRepeated is a repeatable STATE=COMMAND flag.
type statesRepeated map[string]string

func (m statesRepeated) String() string { return fmt.Sprint(map[string]string(m)) }

func (m statesRepeated) Set(v string) error {
	k, c, ok := strings.Cut(v, "=")
	if !ok || k == "" || c == "" {
		return fmt.Errorf("%q: want STATE=COMMAND", v)
	}
	m[k] = c
	return nil
}

// statesResult is one entry of a --task-results file.
type statesResult struct {
	Result json.RawMessage `json:"result"`
	Error  *string         `json:"error"`
	Cause  string          `json:"cause"`
}

func statesRun(ctx context.Context, args []string, s stdio) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	input := fs.String("input", "", "file holding the execution's input (JSON; - for stdin; default {})")
	handlers := statesRepeated{}
	fs.Var(handlers, "task-handler", "answer the Task state STATE with `STATE=COMMAND` (repeatable)")
	resultsFile := fs.String("task-results", "", "JSON `FILE` mapping Task state names to their results or errors")
	history := fs.Bool("history", false, "print the execution's history events on stderr")
	pos, code, ok := statesFlags(fs, args, 1, s)
	if !ok {
		return code
	}
	m, def, code := statesReadDefinition(pos[0], s)
	if m == nil {
		if code == 1 {
			code = 2 // a bad definition is a usage error for run
		}
		return code
	}
	in := []byte("{}")
	if *input != "" {
		var err error
		if *input == "-" {
			in, err = io.ReadAll(s.in)
		} else {
			in, err = os.ReadFile(*input)
		}
		if err != nil {
			fmt.Fprintf(s.err, "relais states run: read input: %v\n", err)
			return 2
		}
	}
	tasks := &statesTasks{commands: handlers, calls: map[string]int{}}
	if *resultsFile != "" {
		var err error
		if tasks.results, err = statesReadResults(*resultsFile); err != nil {
			fmt.Fprintf(s.err, "relais states run: %v\n", err)
			return 2
		}
	}

	eng := asl.New(asl.Options{})
	defer eng.Close()
	tasks.eng = eng
	eng.Tasks().HandleFunc("*", tasks.invoke)
	if _, err := eng.CreateStateMachine(ctx, "run", def, ""); err != nil {
		statesPrintProblems(s.err, pos[0], err)
		return 2
	}
	x, err := eng.StartExecution(ctx, asl.StartInput{StateMachine: "run", Input: string(bytes.TrimSpace(in))})
	if err != nil {
		fmt.Fprintf(s.err, "relais states run: %v\n", err)
		return 2
	}
	arn := x.ARN
	x, err = eng.WaitExecution(ctx, arn)
	if err != nil {
		// Interrupted: stop the execution so that its record says so.
		stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if x, err = eng.StopExecution(stopCtx, arn, "Interrupted", "relais states run was interrupted"); err != nil {
			fmt.Fprintf(s.err, "relais states run: %v\n", err)
			return 1
		}
	}
	if *history {
		if err := statesPrintHistory(context.WithoutCancel(ctx), eng, arn, s.err); err != nil {
			fmt.Fprintf(s.err, "relais states run: %v\n", err)
		}
	}
	if x.Status == asl.StatusSucceeded {
		var out bytes.Buffer
		if err := json.Indent(&out, []byte(x.Output), "", "  "); err != nil {
			out.Reset()
			out.WriteString(x.Output)
		}
		fmt.Fprintln(s.out, out.String())
		return 0
	}
	data, _ := json.MarshalIndent(struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Cause  string `json:"cause"`
	}{x.Status, x.Error, x.Cause}, "", "  ")
	fmt.Fprintln(s.out, string(data))
	return 1
}

func statesPrintHistory(ctx context.Context, eng *asl.Engine, arn string, w io.Writer) error {
	token := ""
	for {
		evs, next, err := eng.History(ctx, arn, asl.HistoryInput{NextToken: token})
		if err != nil {
			return err
		}
		for _, ev := range evs {
			data, err := json.Marshal(ev)
			if err != nil {
				return err
			}
			fmt.Fprintln(w, string(data))
		}
		if next == "" {
			return nil
		}
		token = next
	}
}

// statesReadResults reads a --task-results file: each state maps to one result or error,
// or to a list of them consumed one per invocation (the last one repeats).
func statesReadResults(name string) (map[string][]statesResult, error) {
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("read task results: %w", err)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("task results %s: %w", name, err)
	}
	out := map[string][]statesResult{}
	for state, v := range raw {
		var list []statesResult
		if bytes.HasPrefix(bytes.TrimSpace(v), []byte("[")) {
			err = json.Unmarshal(v, &list)
		} else {
			var one statesResult
			err = json.Unmarshal(v, &one)
			list = []statesResult{one}
		}
		if err != nil {
			return nil, fmt.Errorf("task results %s, state %s: %w", name, state, err)
		}
		if len(list) == 0 {
			return nil, fmt.Errorf("task results %s, state %s: empty list", name, state)
		}
		for _, r := range list {
			if r.Error == nil && r.Result == nil {
				return nil, fmt.Errorf("task results %s, state %s: want {\"result\": …} or {\"error\": …, \"cause\": …}", name, state)
			}
		}
		out[state] = list
	}
	return out, nil
}

// statesTasks answers every Task state of `relais states run`, by state name.
type statesTasks struct {
	eng      *asl.Engine
	commands map[string]string
	results  map[string][]statesResult
	mu       sync.Mutex
	calls    map[string]int
}

func (t *statesTasks) invoke(ctx context.Context, req *asl.TaskRequest) (any, error) {
	out, err := t.answer(ctx, req)
	if err != nil || req.Token == "" {
		return out, err
	}
	// A .waitForTaskToken task: the local answer is the callback's result.
	data, err := json.Marshal(out)
	if err != nil {
		return nil, err
	}
	if err := t.eng.SendTaskSuccess(ctx, req.Token, string(data)); err != nil {
		return nil, err
	}
	return nil, nil
}

func (t *statesTasks) answer(ctx context.Context, req *asl.TaskRequest) (any, error) {
	if c, ok := t.commands[req.StateName]; ok {
		return statesRunCommand(ctx, c, req)
	}
	list, ok := t.results[req.StateName]
	if !ok {
		return nil, &asl.Error{Name: asl.ErrNameTaskFailed,
			Cause: fmt.Sprintf("no --task-handler or --task-results entry answers the Task state %q", req.StateName)}
	}
	t.mu.Lock()
	n := t.calls[req.StateName]
	t.calls[req.StateName]++
	t.mu.Unlock()
	r := list[min(n, len(list)-1)]
	if r.Error != nil {
		return nil, &asl.Error{Name: *r.Error, Cause: r.Cause}
	}
	var v any
	if err := json.Unmarshal(r.Result, &v); err != nil {
		return nil, err
	}
	return v, nil
}

// statesRunCommand runs a task handler command: the task's input on stdin, its result on
// stdout. A non-zero exit fails the task with the {"error", "cause"} it printed, or with
// States.TaskFailed and its stderr.
func statesRunCommand(ctx context.Context, command string, req *asl.TaskRequest) (any, error) {
	in, err := json.Marshal(req.Parameters)
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, "sh", "-c", command)
	cmd.Stdin = bytes.NewReader(in)
	cmd.Env = append(os.Environ(), "RELAIS_STATE_NAME="+req.StateName, "RELAIS_EXECUTION_ARN="+req.ExecutionARN)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	var exitErr *exec.ExitError
	if runErr != nil && !errors.As(runErr, &exitErr) {
		return nil, &asl.Error{Name: asl.ErrNameTaskFailed, Cause: fmt.Sprintf("task handler %q: %v", command, runErr)}
	}
	if runErr != nil {
		var failure struct {
			Error *string `json:"error"`
			Cause string  `json:"cause"`
		}
		if json.Unmarshal(stdout.Bytes(), &failure) == nil && failure.Error != nil {
			return nil, &asl.Error{Name: *failure.Error, Cause: failure.Cause}
		}
		return nil, &asl.Error{Name: asl.ErrNameTaskFailed,
			Cause: fmt.Sprintf("task handler %q: %v: %s", command, runErr, strings.TrimSpace(stderr.String()))}
	}
	out := bytes.TrimSpace(stdout.Bytes())
	if len(out) == 0 {
		return nil, nil
	}
	var v any
	if err := json.Unmarshal(out, &v); err != nil {
		return nil, &asl.Error{Name: asl.ErrNameTaskFailed, Cause: fmt.Sprintf("task handler %q printed no JSON: %v", command, err)}
	}
	return v, nil
}

// --- serve ---

func statesServe(ctx context.Context, args []string, s stdio, getenv func(string) string) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:8083", "`ADDR`ess of the Step Functions API")
	data := fs.String("data", "", "SQLite `FILE` that keeps state machines and executions across restarts (default: memory only)")
	if _, code, ok := statesFlags(fs, args, 0, s); !ok {
		return code
	}
	var opts asl.Options
	if *data != "" {
		st, err := aslstore.Open(ctx, *data)
		if err != nil {
			fmt.Fprintf(s.err, "relais states serve: %v\n", err)
			return 2
		}
		defer st.Close()
		opts.Store = st
	}
	eng := asl.New(opts)
	defer eng.Close()
	if endpoint := getenv("AWS_ENDPOINT_URL_LAMBDA"); endpoint != "" {
		statesUseLambda(eng, statesLambdaClient(endpoint, getenv))
		fmt.Fprintf(s.err, "relais states serve: Lambda tasks go to %s\n", endpoint)
	}
	// Executions left running by an earlier process go on from their last checkpoint.
	if err := eng.Resume(ctx); err != nil {
		fmt.Fprintf(s.err, "relais states serve: resume: %v\n", err)
		return 1
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintf(s.err, "relais states serve: %v\n", err)
		return 2
	}
	srv := &http.Server{Handler: sfnapi.New(eng), ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(s.err, "relais states serve: Step Functions API on http://%s\n", ln.Addr())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		fmt.Fprintf(s.err, "relais states serve: %v\n", err)
		return 1
	case <-ctx.Done():
	}
	shutCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil {
		fmt.Fprintf(s.err, "relais states serve: shutdown: %v\n", err)
		return 1
	}
	return 0
}

// statesLambdaInvoker is the part of the Lambda client that tasks use.
type statesLambdaInvoker interface {
	Invoke(ctx context.Context, in *lambda.InvokeInput, opts ...func(*lambda.Options)) (*lambda.InvokeOutput, error)
}

func statesLambdaClient(endpoint string, getenv func(string) string) *lambda.Client {
	region := getenv("AWS_REGION")
	if region == "" {
		region = "us-east-1"
	}
	key, secret := getenv("AWS_ACCESS_KEY_ID"), getenv("AWS_SECRET_ACCESS_KEY")
	if key == "" || secret == "" {
		key, secret = "relais", "relais" // a local endpoint does not check signatures
	}
	return lambda.New(lambda.Options{
		Region:       region,
		BaseEndpoint: aws.String(endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider(key, secret, getenv("AWS_SESSION_TOKEN")),
	})
}

// statesUseLambda sends the engine's Lambda tasks to a Lambda endpoint: the
// arn:aws:states:::lambda:invoke integration (and its .waitForTaskToken form) and plain
// function ARNs.
func statesUseLambda(eng *asl.Engine, client statesLambdaInvoker) {
	eng.Tasks().HandleFunc("arn:aws:states:::lambda:invoke", func(ctx context.Context, req *asl.TaskRequest) (any, error) {
		params, _ := req.Parameters.(map[string]any)
		name, _ := params["FunctionName"].(string)
		if name == "" {
			return nil, &asl.Error{Name: "States.Runtime", Cause: "lambda:invoke needs a FunctionName string parameter"}
		}
		invocation, _ := params["InvocationType"].(string)
		status, payload, err := statesInvokeLambda(ctx, client, name, params["Payload"], invocation)
		if err != nil {
			return nil, err
		}
		return map[string]any{
			"ExecutedVersion": "$LATEST",
			"Payload":         payload,
			"StatusCode":      status,
			"SdkHttpMetadata": map[string]any{"HttpStatusCode": status},
		}, nil
	})
	eng.Tasks().HandleFunc("arn:aws:lambda:*", func(ctx context.Context, req *asl.TaskRequest) (any, error) {
		_, payload, err := statesInvokeLambda(ctx, client, req.Resource, req.Parameters, "")
		return payload, err
	})
}

// statesInvokeLambda invokes a function. A function error becomes a task error named by
// its errorType with the error payload as cause, as Step Functions reports it.
func statesInvokeLambda(ctx context.Context, client statesLambdaInvoker, name string, payload any, invocation string) (int32, any, error) {
	in, err := json.Marshal(payload)
	if err != nil {
		return 0, nil, err
	}
	input := &lambda.InvokeInput{FunctionName: aws.String(name), Payload: in}
	if invocation != "" {
		input.InvocationType = lambdatypes.InvocationType(invocation)
	}
	out, err := client.Invoke(ctx, input)
	if err != nil {
		return 0, nil, &asl.Error{Name: "Lambda.ServiceException", Cause: err.Error()}
	}
	if out.FunctionError != nil {
		var fe struct {
			ErrorType string `json:"errorType"`
		}
		_ = json.Unmarshal(out.Payload, &fe)
		name := fe.ErrorType
		if name == "" {
			name = "Lambda.Unknown"
		}
		return 0, nil, &asl.Error{Name: name, Cause: string(out.Payload)}
	}
	var result any
	if len(bytes.TrimSpace(out.Payload)) > 0 {
		if err := json.Unmarshal(out.Payload, &result); err != nil {
			return 0, nil, &asl.Error{Name: "Lambda.Unknown", Cause: "the function returned no JSON: " + err.Error()}
		}
	}
	return out.StatusCode, result, nil
}
