package cfnaction

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"slices"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/relais-ci/relais/shared/action"
	"github.com/relais-ci/relais/shared/core"
)

// spec is what a stack or change set is created or updated from.
type spec struct {
	body, url *string // one of them
	params    []types.Parameter
	tags      []types.Tag
	policy    *string
	caps      []types.Capability
	role      *string
}

// prepare reads the template and its parameters from the action's configuration and
// input artifacts. Templates over CloudFormation's TemplateBody limit are uploaded to
// the artifact bucket.
func (d *Deployer) prepare(ctx context.Context, job action.Job) (spec, error) {
	cfg := job.Record.Configuration
	var sp spec
	caps, err := parseCapabilities(cfg["Capabilities"])
	if err != nil {
		return sp, err
	}
	sp.caps, sp.role = caps, optional(cfg["RoleArn"])
	if cfg["TemplatePath"] == "" {
		return sp, problemf("configuration TemplatePath is required when ActionMode is %s", cfg["ActionMode"])
	}
	in := &inputs{store: d.d.Artifacts, arts: job.Record.InputArtifacts, region: d.d.Region}
	defer in.close()

	art, file, err := splitArtifactPath("TemplatePath", cfg["TemplatePath"])
	if err != nil {
		return sp, err
	}
	body, err := in.file(ctx, "TemplatePath", art, file, maxTemplateSize)
	if err != nil {
		return sp, err
	}

	params := map[string]string{}
	if tc := cfg["TemplateConfiguration"]; tc != "" {
		art, file, err := splitArtifactPath("TemplateConfiguration", tc)
		if err != nil {
			return sp, err
		}
		data, err := in.file(ctx, "TemplateConfiguration", art, file, maxFileSize)
		if err != nil {
			return sp, err
		}
		c, err := parseTemplateConfig(data)
		if err != nil {
			return sp, problemf("configuration TemplateConfiguration %s: %w", tc, err)
		}
		for k, v := range c.Parameters {
			params[k] = v
		}
		for _, k := range sortedKeys(c.Tags) {
			sp.tags = append(sp.tags, types.Tag{Key: aws.String(k), Value: aws.String(c.Tags[k])})
		}
		if c.StackPolicy != nil {
			sp.policy = aws.String(string(c.StackPolicy))
		}
	}
	if po := cfg["ParameterOverrides"]; po != "" {
		ovs, err := parseOverrides(po)
		if err != nil {
			return sp, problemf("configuration ParameterOverrides: %w", err)
		}
		for _, k := range sortedKeys(ovs) {
			v, err := in.resolve(ctx, ovs[k])
			if err != nil {
				return sp, problemf("configuration ParameterOverrides %s: %w", k, err)
			}
			params[k] = v
		}
	}
	for _, k := range sortedKeys(params) {
		sp.params = append(sp.params, types.Parameter{ParameterKey: aws.String(k), ParameterValue: aws.String(params[k])})
	}

	if len(body) <= maxTemplateBody {
		sp.body = aws.String(string(body))
		return sp, nil
	}
	u, err := d.upload(ctx, job, path.Base(file), body)
	if err != nil {
		return sp, err
	}
	sp.url = aws.String(u)
	return sp, nil
}

// upload puts a template too large for a request into the artifact bucket and returns
// its URL.
func (d *Deployer) upload(ctx context.Context, job action.Job, name string, body []byte) (string, error) {
	if d.d.S3 == nil || d.d.Bucket == "" {
		return "", problemf("the template is %d bytes, over CloudFormation's %d-byte limit for a template in the request, "+
			"and Relais has no artifact bucket to pass it through", len(body), maxTemplateBody)
	}
	rec := job.Record
	key := d.d.Prefix + path.Join(rec.PipelineName, rec.ExecutionID, "cloudformation", ExternalID(rec.ID), name)
	in := &s3.PutObjectInput{
		Bucket: aws.String(d.d.Bucket), Key: aws.String(key), Body: bytes.NewReader(body),
		ContentLength: aws.Int64(int64(len(body))), ServerSideEncryption: s3types.ServerSideEncryptionAes256,
	}
	if d.d.KMSKeyID != "" {
		in.ServerSideEncryption, in.SSEKMSKeyId = s3types.ServerSideEncryptionAwsKms, aws.String(d.d.KMSKeyID)
	}
	if _, err := d.d.S3.PutObject(ctx, in); err != nil {
		return "", fmt.Errorf("upload template (%d bytes) to s3://%s/%s: %w", len(body), d.d.Bucket, key, err)
	}
	return objectURL(d.d.Region, d.d.Bucket, key), nil
}

// parseCapabilities reads Capabilities: a comma-separated list.
func parseCapabilities(s string) ([]types.Capability, error) {
	var out []types.Capability
	for _, c := range strings.Split(s, ",") {
		c = strings.TrimSpace(c)
		if c == "" {
			continue
		}
		cp := types.Capability(c)
		if !slices.Contains(cp.Values(), cp) {
			return nil, problemf("configuration Capabilities: %q is not one of %v", c, cp.Values())
		}
		if !slices.Contains(out, cp) {
			out = append(out, cp)
		}
	}
	return out, nil
}

// splitArtifactPath reads "ArtifactName::path/in/zip".
func splitArtifactPath(key, v string) (art, file string, err error) {
	art, file, ok := strings.Cut(v, "::")
	if !ok || art == "" || file == "" {
		return "", "", problemf("configuration %s must be ArtifactName::path, not %q", key, v)
	}
	return art, file, nil
}

// outputFile returns the name of the file the stack outputs go to and the artifact it
// goes in.
func outputFile(job action.Job) (file, artifact string, err error) {
	file = job.Record.Configuration["OutputFileName"]
	clean := path.Clean(strings.ReplaceAll(file, `\`, "/"))
	if path.IsAbs(clean) || clean == "." || clean == ".." || strings.HasPrefix(clean, "../") {
		return "", "", problemf("configuration OutputFileName %q is not a file name", file)
	}
	if len(job.Declared.OutputArtifacts) == 0 {
		return "", "", problemf("configuration OutputFileName %s: the action declares no output artifact to write it to", file)
	}
	return clean, job.Declared.OutputArtifacts[0].Name, nil
}

// writeOutputs writes the stack outputs as the JSON file OutputFileName in the action's
// output artifact, as CodePipeline does ({"OutputKey": "OutputValue", …}).
func (d *Deployer) writeOutputs(ctx context.Context, job action.Job, outputs map[string]string) (core.Artifact, error) {
	file, name, err := outputFile(job)
	if err != nil {
		return core.Artifact{}, err
	}
	data, err := json.Marshal(outputs)
	if err != nil {
		return core.Artifact{}, err
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, err := zw.Create(file)
	if err == nil {
		_, err = w.Write(data)
	}
	if err == nil {
		err = zw.Close()
	}
	if err != nil {
		return core.Artifact{}, fmt.Errorf("zip %s: %w", file, err)
	}
	if d.d.Artifacts == nil {
		return core.Artifact{}, errors.New("no artifact store for the output artifact")
	}
	rec := job.Record
	loc, err := d.d.Artifacts.PutArtifact(ctx, rec.PipelineName, rec.ExecutionID, name, &buf)
	if err != nil {
		return core.Artifact{}, fmt.Errorf("write output artifact %s: %w", name, err)
	}
	return core.Artifact{Name: name, Location: loc}, nil
}

// inputs reads files from the action's input artifacts, opening each zip once.
type inputs struct {
	store  core.ArtifactStore
	arts   []core.Artifact
	region string
	zips   map[string]*zip.Reader
	tmp    []*os.File
}

func (in *inputs) close() {
	for _, f := range in.tmp {
		f.Close()
		os.Remove(f.Name())
	}
}

// artifact returns the input artifact named name.
func (in *inputs) artifact(what, name string) (core.Artifact, error) {
	i := slices.IndexFunc(in.arts, func(a core.Artifact) bool { return a.Name == name })
	if i < 0 {
		var names []string
		for _, a := range in.arts {
			names = append(names, a.Name)
		}
		return core.Artifact{}, problemf("%s names artifact %q, which is not an input artifact of the action (inputs: %s)",
			what, name, strings.Join(names, ", "))
	}
	return in.arts[i], nil
}

// file returns the file at name in the artifact art, of at most limit bytes.
func (in *inputs) file(ctx context.Context, what, art, name string, limit int64) ([]byte, error) {
	a, err := in.artifact(what, art)
	if err != nil {
		return nil, err
	}
	zr, err := in.open(ctx, a)
	if err != nil {
		return nil, err
	}
	want := cleanEntry(name)
	for _, f := range zr.File {
		if f.FileInfo().IsDir() || cleanEntry(f.Name) != want {
			continue
		}
		rc, err := f.Open()
		if err != nil {
			return nil, problemf("%s: file %s in artifact %s: %v", what, name, art, err)
		}
		defer rc.Close()
		data, err := io.ReadAll(io.LimitReader(rc, limit+1))
		if err != nil {
			return nil, problemf("%s: read file %s in artifact %s: %v", what, name, art, err)
		}
		if int64(len(data)) > limit {
			return nil, problemf("%s: file %s in artifact %s is larger than %d bytes", what, name, art, limit)
		}
		return data, nil
	}
	return nil, problemf("%s: file %s is not in artifact %s%s", what, name, art, listing(zr))
}

// listing names a few of a zip's files, to help find a mistyped path.
func listing(zr *zip.Reader) string {
	var names []string
	for _, f := range zr.File {
		if !f.FileInfo().IsDir() {
			names = append(names, f.Name)
		}
	}
	if len(names) == 0 {
		return " (it holds no files)"
	}
	sort.Strings(names)
	more := ""
	if len(names) > 10 {
		names, more = names[:10], ", …"
	}
	return " (it holds " + strings.Join(names, ", ") + more + ")"
}

func cleanEntry(name string) string {
	return strings.TrimPrefix(path.Clean("/"+strings.ReplaceAll(name, `\`, "/")), "/")
}

// open returns the zip of an artifact, spooled to a temporary file (a zip needs random
// access; an artifact may be far larger than the files read from it).
func (in *inputs) open(ctx context.Context, a core.Artifact) (*zip.Reader, error) {
	if zr, ok := in.zips[a.Name]; ok {
		return zr, nil
	}
	if in.store == nil {
		return nil, errors.New("no artifact store to read input artifacts from")
	}
	rc, err := in.store.OpenArtifact(ctx, a.Location)
	if err != nil {
		return nil, fmt.Errorf("open input artifact %s: %w", a.Name, err)
	}
	defer rc.Close()
	f, err := os.CreateTemp("", "relais-cfn-*.zip")
	if err != nil {
		return nil, err
	}
	in.tmp = append(in.tmp, f)
	size, err := io.Copy(f, rc)
	if err != nil {
		return nil, fmt.Errorf("read input artifact %s: %w", a.Name, err)
	}
	zr, err := zip.NewReader(f, size)
	if err != nil {
		return nil, problemf("input artifact %s is not a zip file: %v", a.Name, err)
	}
	if in.zips == nil {
		in.zips = map[string]*zip.Reader{}
	}
	in.zips[a.Name] = zr
	return zr, nil
}

// resolve returns the value of a parameter override.
func (in *inputs) resolve(ctx context.Context, ov override) (string, error) {
	switch ov.Fn {
	case "":
		return ov.Value, nil
	case fnGetArtifactAtt:
		a, err := in.artifact(fnGetArtifactAtt, ov.Args[0])
		if err != nil {
			return "", err
		}
		loc := a.Location
		switch ov.Args[1] {
		case "BucketName":
			return loc.Store, nil
		case "ObjectKey":
			return loc.Key, nil
		default: // URL, as parseOverrides allows no other
			return objectURL(in.region, loc.Store, loc.Key), nil
		}
	}
	art, file, key := ov.Args[0], ov.Args[1], ov.Args[2]
	data, err := in.file(ctx, fnGetParam, art, file, maxFileSize)
	if err != nil {
		return "", err
	}
	v, err := jsonParam(data, key)
	if err != nil {
		return "", fmt.Errorf("%s: file %s in artifact %s: %w", fnGetParam, file, art, err)
	}
	return v, nil
}

// hashID stands for an id CloudFormation would not take in a token.
func hashID(id string) string {
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:16])
}
