//go:build race

package awse2e

// raceEnabled: the test runs with the race detector, and so do the functions it builds.
const raceEnabled = true
