package main

func docDeprecations(p *program, w *walker, path string) ([]fact, error) { return nil, nil }
