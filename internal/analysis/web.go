package analysis

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"k8s.io/client-go/util/jsonpath"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
)

// maxBody bounds what a web check reads of an answer.
const maxBody = 1 << 20

// getWeb GETs url; the result is the JSON answer (or the value at
// jsonPath in it), or without a jsonPath an answer that is not JSON as
// text.
func getWeb(ctx context.Context, spec *v1.WebMetric, url string, creds Credentials) (any, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("web url: %w", err)
	}
	resp, err := client(creds).Do(req)
	if err != nil {
		return nil, fmt.Errorf("web request failed: %w", err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, fmt.Errorf("web answer cut short: %w", err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, fmt.Errorf("web answered %s: %s", resp.Status, shorten(string(bytes.TrimSpace(body))))
	}
	var doc any
	if err := json.Unmarshal(body, &doc); err != nil {
		if spec.JSONPath != "" {
			return nil, fmt.Errorf("malformed answer: not JSON (%v), so jsonPath %s cannot apply", err, spec.JSONPath)
		}
		return string(bytes.TrimSpace(body)), nil
	}
	if spec.JSONPath == "" {
		return doc, nil
	}
	jp := jsonpath.New("check")
	if err := jp.Parse(spec.JSONPath); err != nil {
		return nil, fmt.Errorf("jsonPath %s does not parse: %w", spec.JSONPath, err)
	}
	found, err := jp.FindResults(doc)
	if err != nil {
		return nil, fmt.Errorf("no data at jsonPath %s: %w", spec.JSONPath, err)
	}
	if len(found) == 0 || len(found[0]) == 0 {
		return nil, fmt.Errorf("no data at jsonPath %s", spec.JSONPath)
	}
	return found[0][0].Interface(), nil
}
