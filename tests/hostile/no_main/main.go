package main

import "fmt"

func run() { fmt.Println("no main here") }
