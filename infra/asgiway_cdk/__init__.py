"""asgiway's CDK construct library: `WebSocketAsgiApp` and its Docker-free bundling."""

from asgiway_cdk.construct import WebSocketAsgiApp

__all__ = ["WebSocketAsgiApp"]
