package buildrunner

import (
	"context"
	"os/exec"
	"regexp"
	"strings"
	"time"
)

// runtimeProbe says how to ask this machine for a runtime's version.
type runtimeProbe struct {
	cmd     []string
	version *regexp.Regexp // first group: the version
}

// runtimeProbes knows the runtimes of CodeBuild's standard images that a developer's
// machine may have.
var runtimeProbes = map[string]runtimeProbe{
	"golang": {[]string{"go", "version"}, regexp.MustCompile(`go(\d+(?:\.\d+)*)`)},
	"nodejs": {[]string{"node", "--version"}, regexp.MustCompile(`v(\d+(?:\.\d+)*)`)},
	"python": {[]string{"python3", "--version"}, regexp.MustCompile(`Python (\d+(?:\.\d+)*)`)},
	"java":   {[]string{"java", "-version"}, regexp.MustCompile(`version "(\d+(?:\.\d+)*)`)},
	"ruby":   {[]string{"ruby", "--version"}, regexp.MustCompile(`ruby (\d+(?:\.\d+)*)`)},
	"php":    {[]string{"php", "--version"}, regexp.MustCompile(`PHP (\d+(?:\.\d+)*)`)},
	"dotnet": {[]string{"dotnet", "--version"}, regexp.MustCompile(`(\d+(?:\.\d+)*)`)},
}

// checkRuntime finds the version of a runtime on this machine (PATH from env) and says
// whether it is the one requested. A tool that is missing or unknown is Found "".
func checkRuntime(ctx context.Context, name, requested string, env []string) RuntimeCheck {
	rc := RuntimeCheck{Name: name, Requested: requested}
	probe, ok := runtimeProbes[name]
	if !ok {
		return rc
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, lookPathIn(probe.cmd[0], env), probe.cmd[1:]...)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if err != nil && len(out) == 0 {
		return rc
	}
	m := probe.version.FindSubmatch(out)
	if m == nil {
		return rc
	}
	rc.Found = string(m[1])
	if name == "java" && strings.HasPrefix(rc.Found, "1.") {
		rc.Found = strings.TrimPrefix(rc.Found, "1.") // 1.8.0 is Java 8
	}
	rc.Matches = versionMatches(requested, rc.Found)
	return rc
}

var digits = regexp.MustCompile(`\d+(?:\.(?:\d+|x))*`)

// versionMatches compares a buildspec version (3.11, 3.x, 14, latest, corretto11,
// openjdk8) with a found one (3.11.7): each number asked for must be the found one's.
func versionMatches(requested, found string) bool {
	if strings.EqualFold(requested, "latest") {
		return found != ""
	}
	want := digits.FindString(requested)
	if want == "" || found == "" {
		return false
	}
	have := strings.Split(found, ".")
	for i, part := range strings.Split(want, ".") {
		if part == "x" {
			return true
		}
		if i >= len(have) || strings.TrimLeft(part, "0") != strings.TrimLeft(have[i], "0") {
			return false
		}
	}
	return true
}

// lookPathIn finds a command on the build's PATH rather than the runner's.
func lookPathIn(name string, env []string) string {
	for i := len(env) - 1; i >= 0; i-- {
		if v, ok := strings.CutPrefix(env[i], "PATH="); ok {
			for _, dir := range strings.Split(v, ":") {
				if dir == "" {
					continue
				}
				if p, err := exec.LookPath(dir + "/" + name); err == nil {
					return p
				}
			}
			break
		}
	}
	return name
}
