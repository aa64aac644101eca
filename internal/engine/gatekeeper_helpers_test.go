package engine

// Gatekeeper helpers only the tests use: the review of an admission request as the webhook receives it.

import (
	"context"

	mutationtypes "github.com/open-policy-agent/gatekeeper/v3/pkg/mutation/types"
	"github.com/open-policy-agent/gatekeeper/v3/pkg/target"
	admissionv1 "k8s.io/api/admission/v1"

	"github.com/hpguard/hpguard/internal/report"
)

// ReviewRequest reviews an admission request (for instance the UPDATE of the
// pods/ephemeralcontainers subresource that `kubectl debug` sends) as the Gatekeeper webhook does.
func (g *Gatekeeper) ReviewRequest(ctx context.Context, req *admissionv1.AdmissionRequest) ([]report.Finding, error) {
	return g.review(ctx, target.AugmentedReview{AdmissionRequest: req, Source: mutationtypes.SourceTypeOriginal, IsAdmission: true})
}
