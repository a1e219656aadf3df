package bluegreen

import "testing"

func TestCandidateSizeByStage(t *testing.T) {
	for _, tc := range []struct {
		stage candidateStage
		want  int32
	}{{stagePreview, 1}, {stageFull, 4}, {stageRejected, 0}} {
		if got := candidateSize(tc.stage, 4, 1); got != tc.want {
			t.Errorf("stage %d: %d replicas, want %d", tc.stage, got, tc.want)
		}
	}
}
