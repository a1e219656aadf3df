package plugin

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
)

func (e *env) getRefresh(ctx context.Context, name string) (client.Client, *v1.DatabaseRefresh, error) {
	dbr := &v1.DatabaseRefresh{}
	c, err := e.get(ctx, "databaserefresh", name, dbr)
	return c, dbr, err
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
		Use:   "history NAME",
		Short: "The refresh Jobs the cluster keeps, newest first: when, how long, result, source, why it failed",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, dbr, err := e.getRefresh(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			runs, err := refreshRuns(cmd.Context(), c, dbr)
			if err != nil {
				return err
			}
			return WriteRefreshHistory(e.streams.Out, runs, time.Now())
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use:   "check NAME",
		Short: "The columns of the last backup's schema that spec.masking does not classify, as the last refresh found them",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, dbr, err := e.getRefresh(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return WriteRefreshCheck(e.streams.Out, dbr)
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
			fmt.Fprintf(e.streams.Out, "databaserefresh %s: refresh requested (%s=%s); a refresh-now already running answers it too, "+
				"no second refresh runs: `kubectl understudy refresh status %s` shows the answer\n", args[0], v1.AnnotationRefreshNow, token, args[0])
			return nil
		},
	})
	return cmd
}
