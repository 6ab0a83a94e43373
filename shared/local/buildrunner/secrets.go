package buildrunner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
)

// SecretKind is where CodeBuild would fetch a secret from.
type SecretKind string

// Kinds of secret.
const (
	ParameterStore SecretKind = "parameter-store"
	SecretsManager SecretKind = "secrets-manager"
)

// SecretRef asks for one secret environment variable.
type SecretRef struct {
	Kind SecretKind
	// Var is the environment variable the build sees (the buildspec's key).
	Var string
	// Name is the Parameter Store parameter name, or the Secrets Manager reference
	// secret-id[:json-key[:version-stage[:version-id]]].
	Name string
}

// SecretResolver gives the values of parameter-store and secrets-manager variables, which
// locally come from the developer's environment or a file instead of AWS. A resolver
// never answers "" for a secret it does not have: it returns an error wrapping
// ErrSecretNotFound, and the build fails. Safe for concurrent use.
type SecretResolver interface {
	ResolveSecret(ctx context.Context, ref SecretRef) (string, error)
}

// SecretResolverFunc adapts a function to SecretResolver.
type SecretResolverFunc func(ctx context.Context, ref SecretRef) (string, error)

// ResolveSecret calls f.
func (f SecretResolverFunc) ResolveSecret(ctx context.Context, ref SecretRef) (string, error) {
	return f(ctx, ref)
}

// ErrSecretNotFound is wrapped by a resolver's error for a secret it does not hold.
var ErrSecretNotFound = errors.New("secret not found")

// EnvSecretPrefix prefixes the environment variables EnvSecrets reads: the secret for
// buildspec key LOGIN_PASSWORD is RELAIS_SECRET_LOGIN_PASSWORD. The prefix keeps a
// variable that happens to be set on the developer's machine from standing in for a
// secret unasked.
const EnvSecretPrefix = "RELAIS_SECRET_"

// EnvSecrets resolves a secret from the environment variable EnvSecretPrefix+ref.Var,
// looked up with lookup (os.LookupEnv in the command line).
func EnvSecrets(lookup func(string) (string, bool)) SecretResolver {
	return SecretResolverFunc(func(_ context.Context, ref SecretRef) (string, error) {
		if v, ok := lookup(EnvSecretPrefix + ref.Var); ok {
			return v, nil
		}
		return "", fmt.Errorf("%w: set %s%s", ErrSecretNotFound, EnvSecretPrefix, ref.Var)
	})
}

// SecretsFile holds secrets by their AWS names, as a JSON file:
//
//	{"parameter-store": {"/CodeBuild/dockerLoginPassword": "…"},
//	 "secrets-manager": {"prod/db": "{\"password\": \"…\"}"}}
//
// A secrets-manager reference with a json-key reads that key of the secret's JSON text,
// as CodeBuild does.
type SecretsFile struct {
	Parameters map[string]string `json:"parameter-store"`
	Secrets    map[string]string `json:"secrets-manager"`
}

// LoadSecretsFile reads a SecretsFile.
func LoadSecretsFile(path string) (*SecretsFile, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read secrets file: %w", err)
	}
	var f SecretsFile
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("read secrets file %s: %w", path, err)
	}
	return &f, nil
}

// ResolveSecret implements SecretResolver.
func (f *SecretsFile) ResolveSecret(_ context.Context, ref SecretRef) (string, error) {
	switch ref.Kind {
	case ParameterStore:
		if v, ok := f.Parameters[ref.Name]; ok {
			return v, nil
		}
		return "", fmt.Errorf("%w: parameter %s is not in the secrets file", ErrSecretNotFound, ref.Name)
	case SecretsManager:
		id, key := splitSecretRef(ref.Name)
		v, ok := f.Secrets[ref.Name]
		if !ok {
			v, ok = f.Secrets[id]
		}
		if !ok {
			return "", fmt.Errorf("%w: secret %s is not in the secrets file", ErrSecretNotFound, id)
		}
		if key == "" {
			return v, nil
		}
		var doc map[string]any
		if err := json.Unmarshal([]byte(v), &doc); err != nil {
			return "", fmt.Errorf("secret %s is not JSON, so it has no key %s", id, key)
		}
		val, ok := doc[key]
		if !ok {
			return "", fmt.Errorf("%w: secret %s has no key %s", ErrSecretNotFound, id, key)
		}
		if s, ok := val.(string); ok {
			return s, nil
		}
		b, _ := json.Marshal(val)
		return string(b), nil
	}
	return "", fmt.Errorf("%w: unknown kind %q", ErrSecretNotFound, ref.Kind)
}

// splitSecretRef splits secret-id:json-key:version-stage:version-id into the secret id
// and the json key. A secret id may be an ARN, which has colons of its own.
func splitSecretRef(ref string) (id, key string) {
	parts := strings.Split(ref, ":")
	n := 1
	if strings.HasPrefix(ref, "arn:") && len(parts) >= 7 {
		n = 7
	}
	if len(parts) < n {
		return ref, ""
	}
	id = strings.Join(parts[:n], ":")
	if len(parts) > n {
		key = parts[n]
	}
	return id, key
}

// ChainSecrets asks each resolver in turn; the first that has the secret answers.
func ChainSecrets(rs ...SecretResolver) SecretResolver {
	return SecretResolverFunc(func(ctx context.Context, ref SecretRef) (string, error) {
		var errs []error
		for _, r := range rs {
			v, err := r.ResolveSecret(ctx, ref)
			if err == nil {
				return v, nil
			}
			if !errors.Is(err, ErrSecretNotFound) {
				return "", err
			}
			errs = append(errs, err)
		}
		if len(errs) == 0 {
			return "", fmt.Errorf("%w: no secret resolver configured", ErrSecretNotFound)
		}
		return "", errors.Join(errs...)
	})
}
