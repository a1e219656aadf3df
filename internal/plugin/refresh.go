package plugin

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
)

func (e *env) getRefresh(ctx context.Context, name string) (client.Client, *v1.DatabaseRefresh, error) {
	c, ns, err := e.client()
	if err != nil {
		return nil, nil, err
	}
	dbr := &v1.DatabaseRefresh{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, dbr); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil, fmt.Errorf("databaserefresh %s not found in namespace %s", name, ns)
		}
		return nil, nil, fmt.Errorf("cannot read databaserefresh %s: %w", name, err)
	}
	return c, dbr, nil
}

func (e *env) refreshCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "refresh", Short: "DatabaseRefresh commands"}
	cmd.AddCommand(&cobra.Command{
		Use:   "status NAME",
		Short: "How old dev's data is, the last result, the next run",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, dbr, err := e.getRefresh(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			WriteRefreshStatus(e.streams.Out, dbr, time.Now())
			return nil
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use:   "now NAME",
		Short: "Start one refresh now (the refresh-now annotation gets a fresh value)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, dbr, err := e.getRefresh(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			token := time.Now().UTC().Format("20060102T150405.000000000Z")
			if err := annotate(cmd.Context(), c, dbr, v1.AnnotationRefreshNow, token); err != nil {
				return err
			}
			fmt.Fprintf(e.streams.Out, "databaserefresh %s: refresh requested (%s=%s)\n", args[0], v1.AnnotationRefreshNow, token)
			return nil
		},
	})
	return cmd
}
