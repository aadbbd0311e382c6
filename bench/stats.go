package bench

import (
	"math"
	"slices"
	"time"
)

// Percentiles returns, for each p in ps (in percent, 0 to 100), the exact
// nearest-rank percentile of samples: the smallest sample such that at
// least p% of all samples are less than or equal to it, which is
// sorted[ceil(p/100*n)-1] (p 0 gives the minimum). Every sample counts; no
// histogram or estimate is involved.
//
// It sorts samples in place. With no samples every percentile is 0.
func Percentiles(samples []time.Duration, ps ...float64) []time.Duration {
	out := make([]time.Duration, len(ps))
	n := len(samples)
	if n == 0 {
		return out
	}
	slices.Sort(samples)
	for i, p := range ps {
		p = min(max(p, 0), 100)
		// p*n first: exact for whole p, where p/100 would round (0.99*100 > 99).
		rank := int(math.Ceil(p * float64(n) / 100))
		out[i] = samples[min(max(rank-1, 0), n-1)]
	}
	return out
}
