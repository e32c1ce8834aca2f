"""`asgiway dev`: API Gateway and Lambda played on localhost, for real WebSocket and HTTP clients."""
