#!/bin/sh
# A stand-in for mha-compile that always fails (errors.test).
exit 3
