// Package difftest compares Relais's Amazon States Language interpreter (shared/asl) with an
// independent one, the npm package aws-local-stepfunctions, on a corpus of state machines.
//
// Each case in testdata/cases is one execution: a definition, an input, stub results for its
// Task states, and the outcome the reference recorded ("expected"). The tests run every case
// through both interpreters and require the same outcome. Where the reference is known to
// differ from Step Functions, the case says why ("referenceDiffers") and gives the outcome
// Step Functions produces ("aws"), which Relais must match instead. See README.md.
package difftest
