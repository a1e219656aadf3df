package controllers

import (
	"context"
	"fmt"
	"net/http"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	deployv1alpha1 "github.com/understudy-dev/understudy/api/v1alpha1"
	metriccheck "github.com/understudy-dev/understudy/internal/analysis"
	"github.com/understudy-dev/understudy/internal/bluegreen"
)

// measure takes the measurements of the site's running metric checks that
// are due at now (bluegreen.DueMeasurements), for the planner to record
// and judge. A measurement that cannot be taken (a Secret missing, the
// server down, a timeout) is an inconclusive one whose message names
// what went wrong: never an error that retries in a loop.
func (r *SiteDeploymentReconciler) measure(ctx context.Context, site *deployv1alpha1.SiteDeployment, now time.Time) []bluegreen.Measured {
	var out []bluegreen.Measured
	for _, d := range bluegreen.DueMeasurements(site, now) {
		var m deployv1alpha1.Measurement
		if creds, err := r.metricCredentials(ctx, site.Namespace, d.Check); err != nil {
			m = deployv1alpha1.Measurement{Verdict: deployv1alpha1.AnalysisInconclusive, Message: err.Error()}
		} else {
			m = metriccheck.Measure(ctx, d.Check, d.Vars, creds, now)
		}
		m.Time.Time = now.Truncate(time.Second)
		out = append(out, bluegreen.Measured{Kind: d.Kind, Revision: d.Revision, SpecHash: d.SpecHash, Check: d.Check.Name, Measurement: m})
	}
	return out
}

// metricCredentials resolves a metric check's Secret references (read past
// the cache, like every Secret the manager reads).
func (r *SiteDeploymentReconciler) metricCredentials(ctx context.Context, ns string, c deployv1alpha1.MetricCheck) (metriccheck.Credentials, error) {
	creds := metriccheck.Credentials{Headers: http.Header{}}
	if p := c.Prometheus; p != nil {
		creds.Address = p.Address
		if p.AddressFrom != nil {
			v, err := r.secretKey(ctx, ns, *p.AddressFrom)
			if err != nil {
				return creds, err
			}
			creds.Address, creds.AddressSecret = v, true
		}
		if a := p.Auth; a != nil && a.BearerTokenFrom != nil {
			v, err := r.secretKey(ctx, ns, *a.BearerTokenFrom)
			if err != nil {
				return creds, err
			}
			creds.Headers.Set("Authorization", "Bearer "+v)
		} else if a != nil && a.BasicFrom != nil {
			user, err := r.secretKey(ctx, ns, deployv1alpha1.SecretKeyReference{Name: a.BasicFrom.Name, Key: "username"})
			if err != nil {
				return creds, err
			}
			pass, err := r.secretKey(ctx, ns, deployv1alpha1.SecretKeyReference{Name: a.BasicFrom.Name, Key: "password"})
			if err != nil {
				return creds, err
			}
			req := http.Request{Header: http.Header{}}
			req.SetBasicAuth(user, pass)
			creds.Headers.Set("Authorization", req.Header.Get("Authorization"))
		}
	}
	if w := c.Web; w != nil {
		for _, h := range w.Headers {
			v := h.Value
			if h.ValueFrom != nil {
				var err error
				if v, err = r.secretKey(ctx, ns, *h.ValueFrom); err != nil {
					return creds, err
				}
			}
			creds.Headers.Set(h.Name, v)
		}
	}
	return creds, nil
}

// secretKey reads one key of a Secret; its error names the Secret and
// key, never the value.
func (r *SiteDeploymentReconciler) secretKey(ctx context.Context, ns string, ref deployv1alpha1.SecretKeyReference) (string, error) {
	s := &corev1.Secret{}
	if err := r.Reader.Get(ctx, types.NamespacedName{Namespace: ns, Name: ref.Name}, s); err != nil {
		return "", fmt.Errorf("cannot read Secret %s: %w", ref.Name, err)
	}
	v, ok := s.Data[ref.Key]
	if !ok {
		return "", fmt.Errorf("Secret %s has no key %s", ref.Name, ref.Key)
	}
	return string(v), nil
}
