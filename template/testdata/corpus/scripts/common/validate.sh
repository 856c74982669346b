#!/bin/bash
test -f /buildArtifacts/index.html
