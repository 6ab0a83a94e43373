package codebuildaction

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/codebuild/types"
)

// FuzzParseEnv checks that any EnvironmentVariables value is either refused or read as
// named variables of CodeBuild's three types.
func FuzzParseEnv(f *testing.F) {
	for _, s := range []string{
		`[]`, `[{"name":"A","value":"1"}]`, `[{"name":"B","value":"/p","type":"PARAMETER_STORE"}]`,
		`[{"name":"","value":"x"}]`, `{"name":"A"}`, `[{"name":"A","type":"SSM"}]`, `[{"name":"A","extra":1}]`, `null`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		vars, err := parseEnv(s)
		if err != nil {
			return
		}
		for _, v := range vars {
			if aws.ToString(v.Name) == "" {
				t.Errorf("%q: got a variable without a name", s)
			}
			switch v.Type {
			case types.EnvironmentVariableTypePlaintext, types.EnvironmentVariableTypeParameterStore, types.EnvironmentVariableTypeSecretsManager:
			default:
				t.Errorf("%q: got type %q", s, v.Type)
			}
		}
	})
}
