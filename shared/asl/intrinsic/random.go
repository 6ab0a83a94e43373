package intrinsic

// javaRandom is java.util.Random's linear congruential generator. States.MathRandom with
// a seed must return the same number for the same seed; using Java's generator gives the
// best chance of returning the same number as Step Functions too.
type javaRandom struct {
	seed int64
}

const (
	javaMultiplier = 0x5DEECE66D
	javaAddend     = 0xB
	javaMask       = (1 << 48) - 1
)

func newJavaRandom(seed int64) *javaRandom {
	return &javaRandom{seed: (seed ^ javaMultiplier) & javaMask}
}

func (r *javaRandom) next(bits uint) int32 {
	r.seed = (r.seed*javaMultiplier + javaAddend) & javaMask
	return int32(uint64(r.seed) >> (48 - bits))
}

// nextInt returns a value in [0, bound) exactly as Random.nextInt(int) does; bound > 0.
func (r *javaRandom) nextInt(bound int32) int32 {
	rnd := r.next(31)
	m := bound - 1
	if bound&m == 0 {
		return int32((int64(bound) * int64(rnd)) >> 31)
	}
	for u := rnd; ; u = r.next(31) {
		rnd = u % bound
		if u-rnd+m >= 0 { // int32 overflow here means a biased draw: try again
			return rnd
		}
	}
}
