package main

// The subcommands below are filled by later work; until then they say so and
// exit with code 3.
