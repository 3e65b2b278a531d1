// Package lessontest holds the test helpers that several lessons' tests share, so
// that broken/ and fixed/ test the same way without carrying copies of the same code.
//
// Only *_test.go files import it. A lesson's main.go stays self-contained: learners
// read broken/main.go next to fixed/main.go as the diff of the fix, and the engine
// builds each program on its own (TestMainGoFilesStayStandalone checks this).
//
// What is here is generic; whatever belongs to one lesson (its routes, its expected
// log lines, its expvar counters) stays in that lesson's test files.
package lessontest
