#!/bin/bash
set -euo pipefail
sudo apt-get update
sudo apt-get -y upgrade
sudo sed -i "s/^#\?PermitRootLogin.*/PermitRootLogin no/" /etc/ssh/sshd_config
