from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('sms', '0007_verbose_names'),
    ]

    operations = [
        migrations.AddField(
            model_name='outboundsms',
            name='failed_attempts',
            field=models.PositiveSmallIntegerField(default=0),
        ),
    ]
