"""The console's own sign-in pages (login, logout, password change), on console/base.html.

Django's auth views with our templates: the admin's login page is for staff at /admin/, not
where researchers sign in. Logout is POST only (a link could be followed by a prefetch).
"""

from __future__ import annotations

from django.contrib.auth import views as auth
from django.urls import reverse_lazy

login = auth.LoginView.as_view(template_name="console/login.html", redirect_authenticated_user=True)
logout = auth.LogoutView.as_view()
password_change = auth.PasswordChangeView.as_view(
    template_name="console/password_change.html", success_url=reverse_lazy("password_change_done")
)
password_change_done = auth.PasswordChangeDoneView.as_view(
    template_name="console/password_change_done.html"
)
