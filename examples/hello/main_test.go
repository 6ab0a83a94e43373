package main

import "testing"

func TestGreet(t *testing.T) {
	tests := []struct{ greeting, name, want string }{
		{"", "", "hello, world!"},
		{"bonjour", "Relais", "bonjour, Relais!"},
	}
	for _, tt := range tests {
		if got := Greet(tt.greeting, tt.name); got != tt.want {
			t.Errorf("Greet(%q, %q) = %q, want %q", tt.greeting, tt.name, got, tt.want)
		}
	}
}
