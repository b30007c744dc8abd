//! Black-box tests of the order platform. They start the real application on port 0 against a
//! fresh database and speak to it over HTTP; they arrive with the command API.
#![warn(missing_docs)]
