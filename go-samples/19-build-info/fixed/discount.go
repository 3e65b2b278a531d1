package main

import "fmt"

// Release 1.4.1 added bulk discounts in this file (release 1.4.0 has no
// discount.go): ten or more of an item get a percentage off.
func init() { discounts = append(discounts, bulkDiscount) }

// bulkRates is the percentage off for an order of ten or more.
var bulkRates = map[string]int{"widget": 10}

// bulkDiscount has the bug that release 1.4.1 shipped: an item with no bulk rate
// should simply get no discount, but it is treated as an error, so a bulk order
// of any other item fails with a 500.
func bulkDiscount(item string, qty, cents int) (int, error) {
	if qty < 10 {
		return cents, nil
	}
	rate, ok := bulkRates[item]
	if !ok {
		return 0, fmt.Errorf("bulk discount: no rate for %q", item)
	}
	return cents * (100 - rate) / 100, nil
}
