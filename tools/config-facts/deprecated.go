package main

func (x *index) deprecatedFacts() []fact { return nil }
