package controllers

import (
	"context"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
)

// KindsTimeout bounds WaitForKinds in the manager: one started without its
// CRDs exits after it with a message that says to install them.
const KindsTimeout = 2 * time.Minute

// WaitForKinds waits until the API server serves SiteDeployment and
// DatabaseRefresh. CRDs applied a moment before the manager (a fresh
// `kubectl apply -k config/default`) are served a little later, and a
// manager created before that fails at once: its cache and the
// controllers' field indexes map the kinds when they are built. Each try
// asks a new REST mapper, so nothing learnt before the CRDs were served is
// kept.
func WaitForKinds(ctx context.Context, cfg *rest.Config, timeout time.Duration) error {
	log := ctrl.Log.WithName("setup")
	httpClient, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return fmt.Errorf("cannot create an HTTP client: %w", err)
	}
	var missing error
	err = wait.PollUntilContextTimeout(ctx, time.Second, timeout, true, func(context.Context) (bool, error) {
		mapper, err := apiutil.NewDynamicRESTMapper(cfg, httpClient)
		if err != nil {
			missing = err
			return false, nil
		}
		for _, kind := range []string{"SiteDeployment", "DatabaseRefresh"} {
			if _, err := mapper.RESTMapping(v1.GroupVersion.WithKind(kind).GroupKind(), v1.GroupVersion.Version); err != nil {
				missing = err
				log.Info("waiting for the API server to serve the CRD", "kind", kind, "reason", err.Error())
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil && missing != nil {
		return fmt.Errorf("the API server does not serve understudy's kinds after %s (install the CRDs: kubectl apply --server-side -k config/crd): %w", timeout, missing)
	}
	return err
}
