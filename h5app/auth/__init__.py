"""Sign-in: channel SSO and phone + SMS code for workers, username + password for staff."""
