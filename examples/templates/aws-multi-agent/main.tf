# Two idgate agents, `main` and `dev`, on one EC2 instance, both authenticating with the
# instance's AWS identity document. See README.md for why each agent must say its name.

terraform {
  required_providers {
    coder = {
      source  = "coder/coder"
      version = ">= 2.0"
    }
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.0"
    }
  }
}

variable "region" {
  description = "AWS region of the workspace instance."
  type        = string
  default     = "us-east-1"
}

variable "instance_type" {
  description = "EC2 instance type."
  type        = string
  default     = "t3.medium"
}

variable "idgate_url" {
  description = "URL at which the instance reaches the idgate server (its --access-url)."
  type        = string
}

variable "idgate_download_url" {
  description = "URL of the idgate binary for linux/amd64, installed as /usr/local/bin/idgate."
  type        = string
}

provider "aws" {
  region = var.region
}

data "coder_workspace" "me" {}

data "aws_ami" "ubuntu" {
  most_recent = true
  owners      = ["099720109477"] # Canonical

  filter {
    name   = "name"
    values = ["ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-*"]
  }
}

# The agent name is the resource name: `main` and `dev`.
resource "coder_agent" "main" {
  arch = "amd64"
  os   = "linux"
  auth = "aws-instance-identity"
}

resource "coder_agent" "dev" {
  arch = "amd64"
  os   = "linux"
  auth = "aws-instance-identity"
}

resource "aws_instance" "dev" {
  # No instance while the workspace is stopped: a stop build then has no agents.
  count = data.coder_workspace.me.start_count

  ami           = data.aws_ami.ubuntu.id
  instance_type = var.instance_type

  # Referencing both agents here makes this instance the resource that depends on them, so
  # the import attaches both to it and takes its instance ID.
  user_data = templatefile("${path.module}/cloud-init.yaml.tftpl", {
    idgate_url          = var.idgate_url
    idgate_download_url = var.idgate_download_url
    auth                = "aws-instance-identity"
    user                = "ubuntu"
    agents = {
      main = coder_agent.main.id
      dev  = coder_agent.dev.id
    }
  })

  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
  }

  tags = {
    Name = "idgate-${data.coder_workspace.me.name}"
  }
}
