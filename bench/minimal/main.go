// Command minimal is the smallest useful aws-lambda-go function: it answers
// every event with an empty JSON object. The cold-start benchmark builds it
// exactly like the real functions and uses it as the floor they are
// compared with.
package main

import "github.com/aws/aws-lambda-go/lambda"

func main() {
	lambda.Start(func() (struct{}, error) { return struct{}{}, nil })
}
