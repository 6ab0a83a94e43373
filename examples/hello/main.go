// Command hello prints a greeting. It is the demo application that the example pipeline
// in pipelines/hello.json builds, tests and deploys.
package main

import (
	"fmt"
	"os"
)

// Greet returns the greeting for name, defaulting to "world".
func Greet(greeting, name string) string {
	if greeting == "" {
		greeting = "hello"
	}
	if name == "" {
		name = "world"
	}
	return fmt.Sprintf("%s, %s!", greeting, name)
}

func main() {
	name := ""
	if len(os.Args) > 1 {
		name = os.Args[1]
	}
	fmt.Println(Greet(os.Getenv("GREETING"), name))
}
