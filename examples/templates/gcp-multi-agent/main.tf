# Two idgate agents, `main` and `dev`, on one Compute Engine instance, both authenticating with
# the instance's Google identity token. See README.md for why each agent must say its name.

terraform {
  required_providers {
    coder = {
      source  = "coder/coder"
      version = ">= 2.0"
    }
    google = {
      source  = "hashicorp/google"
      version = ">= 5.0"
    }
  }
}

variable "project" {
  description = "Google Cloud project of the workspace instance."
  type        = string
}

variable "zone" {
  description = "Zone of the workspace instance."
  type        = string
  default     = "us-central1-a"
}

variable "machine_type" {
  description = "Compute Engine machine type."
  type        = string
  default     = "e2-medium"
}

variable "idgate_url" {
  description = "URL at which the instance reaches the idgate server (its --access-url)."
  type        = string
}

variable "idgate_download_url" {
  description = "URL of the idgate binary for linux/amd64, installed as /usr/local/bin/idgate."
  type        = string
}

provider "google" {
  project = var.project
  zone    = var.zone
}

data "coder_workspace" "me" {}

# The agent name is the resource name: `main` and `dev`.
resource "coder_agent" "main" {
  arch = "amd64"
  os   = "linux"
  auth = "google-instance-identity"
}

resource "coder_agent" "dev" {
  arch = "amd64"
  os   = "linux"
  auth = "google-instance-identity"
}

resource "google_compute_instance" "dev" {
  # No instance while the workspace is stopped: a stop build then has no agents.
  count = data.coder_workspace.me.start_count

  name         = "idgate-${data.coder_workspace.me.name}"
  machine_type = var.machine_type

  boot_disk {
    initialize_params {
      image = "ubuntu-os-cloud/ubuntu-2404-lts-amd64"
    }
  }

  network_interface {
    network = "default"
    access_config {}
  }

  # The identity token is asked for by the default service account.
  service_account {
    scopes = ["cloud-platform"]
  }

  # Ubuntu images run cloud-init from the `user-data` metadata key. Referencing both agents here
  # makes this instance the resource that depends on them, so the import attaches both to it and
  # takes its instance_id.
  metadata = {
    user-data = templatefile("${path.module}/cloud-init.yaml.tftpl", {
      idgate_url          = var.idgate_url
      idgate_download_url = var.idgate_download_url
      auth                = "google-instance-identity"
      user                = "ubuntu"
      agents = {
        main = coder_agent.main.id
        dev  = coder_agent.dev.id
      }
    })
  }
}
