"""Stand-in for ``fate_flow.entity.code.ReturnCode``: the codes the hooks' callers use."""


class ReturnCode:
    class Base:
        SUCCESS = 0

    class API:
        EXPIRED = 5000
        INVALID_PARAMETER = 5001
        NO_FOUND_APPID = 5002
        VERIFY_FAILED = 5003
        AUTHENTICATION_FAILED = 5004
        NO_PERMISSION = 5005

    class Server:
        EXCEPTION = 6000
        RESPONSE_EXCEPTION = 6002
