"""The site configuration is one row (id 1); it exists from the first migration on,
so the admin can change it on a fresh site."""

from django.db import migrations


def create_row(apps, schema_editor):  # type: ignore[no-untyped-def]
    SiteConfiguration = apps.get_model("site_config", "SiteConfiguration")
    SiteConfiguration.objects.get_or_create(id=1)


class Migration(migrations.Migration):
    dependencies = [("site_config", "0001_initial")]

    operations = [migrations.RunPython(create_row, migrations.RunPython.noop)]
