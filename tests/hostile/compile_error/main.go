package main

import "fmt"

func main() {
	fmt.Println("about to fail")
	var count int = "three"
	fmt.Println(count)
}
