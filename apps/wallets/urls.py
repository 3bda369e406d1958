app_name = "wallets"

urlpatterns: list = []
