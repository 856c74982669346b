#!/bin/sh
# Hardens the Ubuntu golden image.
set -eu
echo "Disabling password authentication for SSH"
sudo sed -i 's/^#\?PasswordAuthentication .*/PasswordAuthentication no/' /etc/ssh/sshd_config
